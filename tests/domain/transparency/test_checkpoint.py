"""C2SP signed-note checkpoints: format, key ids, the Go sumdb/note vector, tampering."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.domain.transparency import checkpoint as cp
from gateway.errors import InvalidRequest

ORIGIN = "ledger.gateway.example/test"
ROOT = hashlib.sha256(b"root").digest()

# golang.org/x/mod/sumdb/note's documented example key and note (an independent implementation).
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def signed(key: Ed25519PrivateKey, size: int = 42, timestamp: int = 1_790_000_000) -> cp.SignedCheckpoint:
    return cp.sign_checkpoint(
        cp.Checkpoint(ORIGIN, size, ROOT), public_key=raw_public(key), sign=key.sign, timestamp=timestamp
    )


def test_our_key_ids_vkeys_and_signature_lines_match_go_sumdb_note() -> None:
    key = Ed25519PrivateKey.from_private_bytes(GO_SKEY_SEED)
    public = raw_public(key)
    assert cp.verifier_key("PeterNeumann", public) == GO_VKEY
    text, sigs = cp.parse_note(GO_NOTE)
    assert text == GO_TEXT
    assert sigs[0].key_id == cp.key_id("PeterNeumann", cp.ED25519, public)
    assert ed25519_verify(public, text.encode(), sigs[0].signature)
    # Ed25519 is deterministic: signing the same text gives Go's line byte for byte.
    line = cp.NoteSignature("PeterNeumann", sigs[0].key_id, key.sign(GO_TEXT.encode())).line()
    assert GO_TEXT + "\n" + line + "\n" == GO_NOTE


def test_checkpoint_note_has_the_c2sp_shape(key: Ed25519PrivateKey) -> None:
    note = signed(key).note
    text, _, sig_block = note.partition("\n\n")
    assert text + "\n" == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    lines = sig_block.rstrip("\n").split("\n")
    assert len(lines) == 2
    public = raw_public(key)
    for line, sig_type in zip(lines, (cp.ED25519, cp.COSIGNATURE_V1), strict=True):
        assert line.startswith(f"\u2014 {ORIGIN} ")
        raw = base64.b64decode(line.rsplit(" ", 1)[1])
        # key id per c2sp.org/signed-note: SHA-256(name || 0x0A || type || public key)[:4]
        assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]
    plain = base64.b64decode(lines[0].rsplit(" ", 1)[1])[4:]
    assert ed25519_verify(public, (text + "\n").encode(), plain)
    timed = base64.b64decode(lines[1].rsplit(" ", 1)[1])[4:]
    assert int.from_bytes(timed[:8], "big") == 1_790_000_000
    message = b"cosignature/v1\ntime 1790000000\n" + (text + "\n").encode()
    assert ed25519_verify(public, message, timed[8:])


def test_open_checkpoint_round_trip_and_key_rotation(key: Ed25519PrivateKey) -> None:
    note = signed(key, size=7, timestamp=123).note
    opened = cp.open_checkpoint(note, public_keys=[raw_public(key)], verify=ed25519_verify)
    assert (opened.size, opened.root_hash, opened.timestamp) == (7, ROOT, 123)
    newer = Ed25519PrivateKey.generate()
    rotated = cp.open_checkpoint(
        note, public_keys=[raw_public(newer), raw_public(key)], verify=ed25519_verify
    )
    assert rotated.size == 7
    with pytest.raises(InvalidRequest, match="not signed by a known key"):
        cp.open_checkpoint(note, public_keys=[raw_public(newer)], verify=ed25519_verify)


def test_unknown_signature_lines_are_ignored(key: Ed25519PrivateKey) -> None:
    note = signed(key).note
    witness = Ed25519PrivateKey.generate()
    text = note.split("\n\n")[0] + "\n"
    extra = cp.NoteSignature(
        "witness.example/w1",
        cp.key_id("witness.example/w1", 1, raw_public(witness)),
        witness.sign(text.encode()),
    )
    with_witness = note + extra.line() + "\n"
    assert cp.open_checkpoint(with_witness, public_keys=[raw_public(key)], verify=ed25519_verify).size == 42


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n43\n"),  # size
        (f"{ORIGIN}\n", "other.example/log\n"),  # origin (and so the key name)
        (base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),  # root
    ],
)
def test_any_change_to_the_text_breaks_the_checkpoint(key: Ed25519PrivateKey, old: str, new: str) -> None:
    note = signed(key).note.replace(old, new, 1)
    with pytest.raises(InvalidRequest):
        cp.open_checkpoint(note, public_keys=[raw_public(key)], verify=ed25519_verify, name=ORIGIN)


def test_a_forged_timestamp_or_a_missing_cosignature_is_refused(key: Ed25519PrivateKey) -> None:
    note = signed(key).note
    timed_line = note.rstrip("\n").split("\n")[-1]
    b64 = timed_line.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(b64))
    raw[4:12] = (1_790_000_001).to_bytes(8, "big")  # claim another signing time
    forged = note.replace(b64, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(InvalidRequest, match="timestamped cosignature does not verify"):
        cp.open_checkpoint(forged, public_keys=[raw_public(key)], verify=ed25519_verify)
    without = note.replace(timed_line + "\n", "")
    with pytest.raises(InvalidRequest, match="exactly one note signature and one timestamped"):
        cp.open_checkpoint(without, public_keys=[raw_public(key)], verify=ed25519_verify)


@pytest.mark.parametrize(
    "note",
    [
        "",
        "origin\n1\nAAAA\n",  # no signatures
        "origin\n1\n\n\n— origin AAAAAAA=\n",  # empty line in the text
        "origin\n01\n" + base64.b64encode(ROOT).decode() + "\n\n— origin AAAAAAAA\n",  # leading zero
        "origin\n1\n" + base64.b64encode(ROOT).decode() + "\n\n- origin AAAAAAAA\n",  # hyphen, not em dash
        "origin\n1\n" + base64.b64encode(ROOT).decode() + "\n\n— origin !!!!\n",  # not base64
        "origin\n1\n" + base64.b64encode(b"short").decode() + "\n\n— origin AAAAAAAA\n",  # short root
        "origin\r\n1\n",  # control character
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(InvalidRequest):
        cp.open_checkpoint(note, public_keys=[bytes(32)], verify=ed25519_verify)


def test_origin_must_be_a_valid_key_name(key: Ed25519PrivateKey) -> None:
    with pytest.raises(InvalidRequest):
        cp.sign_checkpoint(
            cp.Checkpoint("has space", 1, ROOT), public_key=raw_public(key), sign=key.sign, timestamp=1
        )
    with pytest.raises(InvalidRequest):
        cp.verifier_key("a+b", raw_public(key))
