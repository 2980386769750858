"""The witness's rules (c2sp.org/tlog-witness) and its cosignature lines (c2sp.org/tlog-cosignature)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.domain.transparency import merkle
from gateway.domain.transparency import witness as w
from gateway.domain.transparency.checkpoint import Checkpoint, sign_checkpoint

ORIGIN = "ledger.gateway.example/test"
NAME = "witness.example/w1"


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except Exception:
        return False
    return True


LOG = Ed25519PrivateKey.generate()
LEAVES = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(20)]


def _note(size: int, key: Ed25519PrivateKey = LOG, leaves: list[bytes] = LEAVES) -> str:
    return sign_checkpoint(
        Checkpoint(ORIGIN, size, merkle.root_of(leaves[:size])),
        public_key=_raw(key),
        sign=key.sign,
        timestamp=1_700_000_000,
    ).note


def _proof(m: int, n: int, leaves: list[bytes] = LEAVES) -> list[bytes]:
    return merkle.consistency_proof(m, n, merkle.lookup_in(merkle.perfect_nodes(leaves)))


def _state(size: int) -> w.Witnessed:
    return w.Witnessed(ORIGIN, size, merkle.root_of(LEAVES[:size]), _note(size), 1)


def _judge(old: int, proof: list[bytes], note: str, latest: w.Witnessed | None) -> w.Judgement:
    return w.judge(w.AddCheckpoint(old, tuple(proof), note), latest, {ORIGIN: [_raw(LOG)]}, _verify)


def test_a_request_body_round_trips_and_malformed_ones_are_refused() -> None:
    body = w.add_checkpoint_body(5, _proof(5, 9), _note(9))
    parsed = w.parse_add_checkpoint(body)
    assert parsed == w.AddCheckpoint(5, tuple(_proof(5, 9)), _note(9))
    assert body.startswith(b"old 5\n")
    for bad in (b"old 05\n\n" + _note(9).encode(), b"old 5\nnot-base64!\n\n", b"5\n\n", b"old 5\n"):
        assert w.parse_add_checkpoint(bad) is None
    assert w.parse_add_checkpoint(w.add_checkpoint_body(5, [b"\x00" * 32] * 64, _note(9))) is None


def test_the_witness_answers_as_the_spec_says() -> None:
    assert _judge(0, [], _note(7), None).outcome is w.Outcome.COSIGNED
    assert _judge(7, _proof(7, 12), _note(12), _state(7)).outcome is w.Outcome.COSIGNED
    conflict = _judge(5, _proof(5, 12), _note(12), _state(7))
    assert (conflict.outcome, conflict.known_size) == (w.Outcome.CONFLICT, 7)
    assert _judge(0, [], _note(12), _state(7)).known_size == 7  # a client learns the size this way
    assert _judge(7, _proof(6, 12), _note(12), _state(7)).outcome is w.Outcome.BAD_PROOF
    assert _judge(13, [], _note(12), _state(7)).outcome is w.Outcome.BAD_REQUEST
    assert _judge(0, [b"\x00" * 32], _note(7), None).outcome is w.Outcome.BAD_PROOF
    impostor = Ed25519PrivateKey.generate()
    assert _judge(7, _proof(7, 12), _note(12, impostor), _state(7)).outcome is w.Outcome.BAD_SIGNATURE
    other = w.judge(w.AddCheckpoint(0, (), _note(3)), None, {"other.example/log": [_raw(LOG)]}, _verify)
    assert other.outcome is w.Outcome.UNKNOWN_LOG
    # Same size, another root: a fork.
    forked = [*LEAVES[:5], *(merkle.leaf_hash(b"forged") for _ in range(15))]
    fork = _judge(7, [], _note(7, leaves=forked), _state(7))
    assert fork.outcome is w.Outcome.CONFLICT
    assert (
        _judge(7, _proof(7, 12, forked), _note(12, leaves=forked), _state(7)).outcome is w.Outcome.BAD_PROOF
    )


def test_a_cosignature_line_is_tlog_cosignature_v1() -> None:
    key = Ed25519PrivateKey.generate()
    text = Checkpoint(ORIGIN, 12, merkle.root_of(LEAVES[:12])).text()
    line = w.cosignature_line(text, name=NAME, public_key=_raw(key), sign=key.sign, timestamp=1_679_315_147)
    # Read back by hand, as the spec writes it down.
    dash, name, b64 = line.split(" ")
    raw = base64.b64decode(b64)
    assert (dash, name, len(raw)) == ("\u2014", NAME, 4 + 8 + 64)
    assert raw[:4] == hashlib.sha256(NAME.encode() + b"\n\x04" + _raw(key)).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == 1_679_315_147
    key.public_key().verify(raw[12:], b"cosignature/v1\ntime 1679315147\n" + text.encode())
    note = w.with_cosignatures(_note(12), [line])
    assert w.cosignature_time(note, name=NAME, public_key=_raw(key), verify=_verify) == 1_679_315_147
    name_, public = w.parse_vkey(w.witness_vkey(NAME, _raw(key)))
    assert (name_, public) == (NAME, _raw(key))


def test_a_cosignature_of_another_key_or_text_is_refused() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    text = Checkpoint(ORIGIN, 12, merkle.root_of(LEAVES[:12])).text()
    line = w.cosignature_line(text, name=NAME, public_key=_raw(key), sign=key.sign, timestamp=5)
    import pytest

    from gateway.errors import CheckpointError

    with pytest.raises(CheckpointError):
        w.cosignature_time(
            w.with_cosignatures(_note(12), [line]), name=NAME, public_key=_raw(other), verify=_verify
        )
    with pytest.raises(CheckpointError):  # the line moved onto another checkpoint
        w.cosignature_time(
            w.with_cosignatures(_note(11), [line]), name=NAME, public_key=_raw(key), verify=_verify
        )
    vkey = w.witness_vkey(NAME, _raw(key))
    with pytest.raises(ValueError, match="id"):
        w.parse_vkey(vkey.replace(vkey.split("+")[1], "00000000"))
