"""Witness cosignatures (c2sp.org/tlog-cosignature) and the witness's rules (c2sp.org/tlog-witness).

A witness keeps, per log origin, the latest checkpoint it cosigned. It cosigns a new checkpoint only when
the log's signature verifies and an RFC 6962 consistency proof from that checkpoint's size to the new one
verifies, so it never cosigns two views of one log that disagree, nor a smaller tree after a larger one.

An ``add-checkpoint`` request body is an ``old <size>`` line, up to 63 base64 proof lines, a blank line
and the signed checkpoint note. ``judge`` applies the spec's checks in its order and says what to answer:

* unknown origin: 404; no trusted signature verifies: 403; malformed body: 400;
* old size above the checkpoint's size: 400;
* old size other than the size last cosigned: 409, with the witness's size in the body;
* same size, other root: 409; a consistency proof that does not verify: 422;
* otherwise the witness records the checkpoint (atomically with the size check) and returns its
  cosignature: ``— <witness name> base64(key id || u64 timestamp || Ed25519 signature)`` over
  ``"cosignature/v1\\ntime <t>\\n" || checkpoint text``, key id = SHA-256(name || 0x0A || 0x04 || key)[:4].

Cryptography stays outside (``sign`` and ``verify`` callables); time is an argument.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.domain.transparency import merkle
from gateway.domain.transparency.checkpoint import (
    COSIGNATURE_V1,
    NoteSignature,
    Sign,
    SignedCheckpoint,
    Verify,
    cosigned_message,
    key_id,
    open_checkpoint,
    parse_checkpoint_text,
    parse_note,
)
from gateway.errors import CheckpointError

MAX_PROOF_LINES = 63


class Outcome(enum.IntEnum):
    """What the witness answers, as the HTTP status the spec names."""

    COSIGNED = 200
    BAD_REQUEST = 400
    BAD_SIGNATURE = 403
    UNKNOWN_LOG = 404
    CONFLICT = 409
    BAD_PROOF = 422


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The latest checkpoint a witness cosigned for one log: size, root and the note with its cosignature."""

    origin: str
    size: int
    root_hash: bytes
    note: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Judgement:
    """``judge``'s verdict: the outcome, and on success the checkpoint to record as cosigned."""

    outcome: Outcome
    detail: str
    checkpoint: SignedCheckpoint | None = None
    known_size: int | None = None


def _decimal(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or (text != "0" and text.startswith("0")):
        return None
    return int(text)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint | None:
    """Parse a request body; None when it is not one (the witness answers 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, sep, note = text.partition("\n\n")
    if not sep:
        return None
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        return None
    old = _decimal(lines[0][4:])
    if old is None or len(lines) - 1 > MAX_PROOF_LINES:
        return None
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            node = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(node) != merkle.HASH_SIZE:
            return None
        proof.append(node)
    return AddCheckpoint(old, tuple(proof), note)


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body a log sends."""
    lines = [f"old {old_size}", *(base64.b64encode(p).decode() for p in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def judge(
    request: AddCheckpoint,
    latest: Witnessed | None,
    log_keys: Mapping[str, Sequence[bytes]],
    verify: Verify,
) -> Judgement:
    """Apply tlog-witness's checks to ``request`` against the latest checkpoint cosigned for its log."""
    try:
        text, _ = parse_note(request.note)
        origin = parse_checkpoint_text(text).origin
    except CheckpointError:
        return Judgement(Outcome.BAD_REQUEST, "the checkpoint is not a signed note")
    keys = log_keys.get(origin)
    if keys is None:
        return Judgement(Outcome.UNKNOWN_LOG, "unknown log origin")
    try:
        signed = open_checkpoint(request.note, public_keys=keys, verify=verify, name=origin)
    except CheckpointError:
        return Judgement(Outcome.BAD_SIGNATURE, "no trusted signature of the log verifies")
    if request.old_size > signed.size:
        return Judgement(Outcome.BAD_REQUEST, "old size is larger than the checkpoint's size")
    known = latest.size if latest is not None else 0
    if request.old_size != known:
        return Judgement(Outcome.CONFLICT, "old size is not the size last cosigned", known_size=known)
    if latest is not None and latest.size == signed.size:
        if latest.root_hash != signed.root_hash:
            return Judgement(Outcome.CONFLICT, "same size, another root: the log forked", known_size=known)
        return Judgement(Outcome.COSIGNED, "already cosigned", signed)
    if request.old_size == 0:
        if request.proof:
            return Judgement(Outcome.BAD_PROOF, "the proof from size 0 must be empty")
        return Judgement(Outcome.COSIGNED, "first checkpoint of this log", signed)
    assert latest is not None  # noqa: S101 - known > 0 only with a latest checkpoint
    if not merkle.verify_consistency(
        latest.size, signed.size, list(request.proof), latest.root_hash, signed.root_hash
    ):
        return Judgement(Outcome.BAD_PROOF, "the consistency proof does not verify")
    return Judgement(Outcome.COSIGNED, "consistent with the last checkpoint cosigned", signed)


def cosignature_line(text: str, *, name: str, public_key: bytes, sign: Sign, timestamp: int) -> str:
    """The witness's cosignature/v1 line over a checkpoint text (without its newline)."""
    if timestamp < 0 or timestamp >= 2**63:
        raise ValueError("timestamp out of range")
    signature = sign(cosigned_message(text, timestamp))
    kid = key_id(name, COSIGNATURE_V1, public_key)
    return NoteSignature(name, kid, timestamp.to_bytes(8, "big") + signature).line()


def with_cosignatures(note: str, lines: Sequence[str]) -> str:
    """A note with signature lines appended (the way a client merges a witness's answer)."""
    return note + "".join(line + "\n" for line in lines)


def cosignature_time(note: str, *, name: str, public_key: bytes, verify: Verify) -> int:
    """The timestamp of a valid cosignature/v1 of witness ``name`` on ``note``; CheckpointError if none."""
    text, signatures = parse_note(note)
    kid = key_id(name, COSIGNATURE_V1, public_key)
    for sig in signatures:
        if sig.name != name or sig.key_id != kid or len(sig.signature) != 8 + 64:
            continue
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp < 2**63 and verify(public_key, cosigned_message(text, timestamp), sig.signature[8:]):
            return timestamp
    raise CheckpointError(
        f"the checkpoint carries no valid cosignature of witness {name!r}",
        field="checkpoint",
        accepted="a checkpoint cosigned by the witness",
    )


def witness_vkey(name: str, public_key: bytes) -> str:
    """The witness's cosignature/v1 verifier key: ``<name>+<key id>+base64(0x04 || key)``."""
    return (
        f"{name}+{key_id(name, COSIGNATURE_V1, public_key).hex()}+"
        + base64.b64encode(bytes([COSIGNATURE_V1]) + public_key).decode()
    )


def parse_vkey(vkey: str, signature_type: int = COSIGNATURE_V1) -> tuple[str, bytes]:
    """(name, raw Ed25519 key) of a signed-note verifier key of ``signature_type``; ValueError otherwise."""
    name, sep, rest = vkey.strip().partition("+")
    kid, sep2, b64 = rest.partition("+")
    if not name or not sep or not sep2:
        raise ValueError("a verifier key is <name>+<key id>+<base64 key>")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the verifier key is not valid base64") from exc
    if len(raw) != 33 or raw[0] != signature_type:
        raise ValueError(f"the verifier key is not an Ed25519 key of type 0x{signature_type:02x}")
    if key_id(name, signature_type, raw[1:]).hex() != kid.lower():
        raise ValueError("the verifier key's id does not match its key")
    return name, raw[1:]
