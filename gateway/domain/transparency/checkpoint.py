"""Signed checkpoints in the C2SP formats, so standard transparency-log tooling can read them.

A checkpoint (c2sp.org/tlog-checkpoint) is a signed note (c2sp.org/signed-note) whose text is::

    <origin>\\n<tree size>\\n<base64 root hash>\\n

followed by a blank line and signature lines ``— <key name> <base64(key id || signature)>``. The
gateway signs every checkpoint twice with its Ed25519 ``ledger`` key, both lines named after the
origin:

1. a plain Ed25519 note signature (type 0x01) over the text: what Go's ``sumdb/note``, the
   transparency-dev tools and every C2SP client verify;
2. a timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature, type 0x04) over
   ``"cosignature/v1\\ntime <t>\\n" || text``: this signs *when* the log vouched for the tree head,
   without the NOT RECOMMENDED extension lines. Clients that do not know it ignore it, as the
   note spec requires.

Key id = SHA-256(key name || 0x0A || type || 32-byte public key)[:4]. Cryptography stays outside:
signing takes a ``sign(message) -> signature`` callable, verification a
``verify(public_key, message, signature) -> bool`` callable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import CheckpointError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_SIGNATURES = 100

Sign = Callable[[bytes], bytes]
Verify = Callable[[bytes, bytes, bytes], bool]  # (public key, message, signature) -> ok


def _invalid(detail: str) -> CheckpointError:
    return CheckpointError(detail, field="checkpoint", accepted="a C2SP tlog-checkpoint signed note")


def _check_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise _invalid("a key name must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key for one signature type."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes, signature_type: int = ED25519) -> str:
    """The ``vkey`` string tools take: ``<name>+<hex key id>+<base64(type || key)>``."""
    kid = key_id(_check_name(name), signature_type, public_key).hex()
    return f"{name}+{kid}+{base64.b64encode(bytes([signature_type]) + public_key).decode()}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: which log, how many leaves, which root."""

    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        """The note text (body) the signatures cover."""
        _check_name(self.origin)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key id, raw signature bytes (after the key id)."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, without its newline."""
        return f"{EM_DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A verified (or freshly signed) checkpoint with its signing time and its note text."""

    checkpoint: Checkpoint
    timestamp: int  # POSIX seconds, from the timestamped cosignature
    note: str

    @property
    def size(self) -> int:
        """Tree size."""
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        """Root hash."""
        return self.checkpoint.root_hash


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 Ed25519 signature covers."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def sign_checkpoint(
    checkpoint: Checkpoint, *, public_key: bytes, sign: Sign, timestamp: int, name: str | None = None
) -> SignedCheckpoint:
    """Sign ``checkpoint`` (note signature and timestamped cosignature) and return the note."""
    if timestamp < 0 or timestamp >= 2**63:
        raise ValueError("timestamp out of range")
    key_name = _check_name(name or checkpoint.origin)
    text = checkpoint.text()
    plain = NoteSignature(key_name, key_id(key_name, ED25519, public_key), sign(text.encode()))
    timed = NoteSignature(
        key_name,
        key_id(key_name, COSIGNATURE_V1, public_key),
        timestamp.to_bytes(8, "big") + sign(cosigned_message(text, timestamp)),
    )
    note = f"{text}\n{plain.line()}\n{timed.line()}\n"
    return SignedCheckpoint(checkpoint, timestamp, note)


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines; raise InvalidRequest when malformed."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise _invalid("a signed note may not contain control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise _invalid("a signed note needs text, a blank line and signature lines")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    signatures: list[NoteSignature] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise _invalid("a signature line must start with an em dash and a space")
        name, _, b64 = line[2:].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _invalid("a signature is not valid base64") from exc
        if len(raw) < 5 or " " in b64:
            raise _invalid("a signature is too short")
        signatures.append(NoteSignature(_check_name(name), raw[:4], raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise _invalid("a signed note needs between 1 and 100 signatures")
    return text, signatures


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse a checkpoint body (origin, size, base64 root; extension lines are ignored)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise _invalid("a checkpoint has at least three non-empty lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise _invalid("the tree size must be a decimal number without leading zeroes")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("the root hash is not valid base64") from exc
    if len(root) != 32:
        raise _invalid("the root hash must be 32 bytes")
    return Checkpoint(origin, int(size_text), root)


def open_checkpoint(
    note: str, *, public_keys: Sequence[bytes], verify: Verify, name: str | None = None
) -> SignedCheckpoint:
    """Verify a checkpoint note against the log's Ed25519 public keys (current and previous).

    Both signature lines of one key must verify: the note signature (what the tree head is) and the
    timestamped cosignature (when it was signed). Lines from unknown keys are ignored. Raises
    InvalidRequest naming what is wrong.
    """
    text, signatures = parse_note(note)
    checkpoint = parse_checkpoint_text(text)
    key_name = name or checkpoint.origin
    for public_key in public_keys:
        plain_id = key_id(key_name, ED25519, public_key)
        timed_id = key_id(key_name, COSIGNATURE_V1, public_key)
        plain = [s for s in signatures if s.name == key_name and s.key_id == plain_id]
        timed = [s for s in signatures if s.name == key_name and s.key_id == timed_id]
        if not plain and not timed:
            continue
        if len(plain) != 1 or len(timed) != 1:
            raise _invalid("a checkpoint needs exactly one note signature and one timestamped cosignature")
        if not verify(public_key, text.encode(), plain[0].signature):
            raise _invalid("the checkpoint signature does not verify")
        stamp = timed[0].signature
        if len(stamp) != 8 + 64:
            raise _invalid("the timestamped cosignature has the wrong length")
        timestamp = int.from_bytes(stamp[:8], "big")
        if timestamp >= 2**63 or not verify(public_key, cosigned_message(text, timestamp), stamp[8:]):
            raise _invalid("the checkpoint's timestamped cosignature does not verify")
        return SignedCheckpoint(checkpoint, timestamp, note)
    raise _invalid(f"the checkpoint is not signed by a known key named {key_name!r}")
