"""Handing a recipient its field-decryption key, wrapped to an X25519 public key it presents.

The scheme (the shape of HPKE's base mode, RFC 9180, built from ``cryptography`` primitives):

    ephemeral key pair e; shared = X25519(e, recipient public key)
    kek = HKDF-SHA256(shared, salt = e.public || recipient public, info = INFO, 32 bytes)
    wrapped = AES-256-GCM(kek, nonce, data key, aad = the hand-over's context)

The context (format, recipient department, field algorithm, key id) is the associated data, so a
wrapped key cannot be passed off as another department's or another algorithm's. The data key never
leaves in clear: only the holder of the X25519 private key can unwrap it, and the gateway never sees
that private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.adapters.crypto.ciphers import recipient_key
from gateway.errors import DecryptionFailed, InvalidRequest
from gateway.ports import KeyStore, WrappedFieldKey

WRAPPING = "X25519-HKDF-SHA256-AES-256-GCM"
INFO = b"credit-gateway field key hand-over v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(data_key: bytes) -> str:
    """A name for a data key that reveals nothing of it (a domain-separated SHA-256, truncated)."""
    return "fk:" + hashlib.sha256(b"credit-gateway field key id\0" + data_key).hexdigest()[:32]


def public_key_fingerprint(public_raw: bytes) -> str:
    """What the ledger records of the public key a data key was wrapped to."""
    return "sha256:" + hashlib.sha256(public_raw).hexdigest()


def parse_public_key(text: str) -> bytes:
    """A recipient's X25519 public key, base64url of its 32 raw bytes; InvalidRequest otherwise."""
    try:
        raw = _unb64(text)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("public_key must be base64url", field="public_key") from exc
    if len(raw) != 32:
        raise InvalidRequest(
            "public_key must be a raw X25519 public key (32 bytes)",
            field="public_key",
            accepted="base64url of 32 bytes",
        )
    X25519PublicKey.from_public_bytes(raw)
    return raw


def context(recipient: str, algorithm: str, kid: str) -> bytes:
    """The associated data a wrapped key is bound to."""
    return json.dumps([WRAPPING, recipient, algorithm, kid], ensure_ascii=False).encode("utf-8")


def _kek(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral_raw + recipient_raw, info=INFO).derive(shared)


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key wrapped to one recipient public key; every field is base64url."""

    ephemeral_public_key: str
    nonce: str
    wrapped_key: str


def wrap_key(data_key: bytes, recipient_raw: bytes, aad: bytes) -> WrappedKey:
    """Wrap ``data_key`` so only the holder of ``recipient_raw``'s private key can open it."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(*_RAW)
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_raw))
    except ValueError as exc:  # a low-order point: the shared secret would be all zeros
        raise InvalidRequest("public_key is not a usable X25519 public key", field="public_key") from exc
    nonce = os.urandom(12)
    sealed = AESGCM(_kek(shared, ephemeral_raw, recipient_raw)).encrypt(nonce, data_key, aad)
    return WrappedKey(_b64(ephemeral_raw), _b64(nonce), _b64(sealed))


def unwrap_key(private: X25519PrivateKey, wrapped: WrappedKey, aad: bytes) -> bytes:
    """What the recipient runs: the data key back, or DecryptionFailed."""
    try:
        ephemeral_raw = _unb64(wrapped.ephemeral_public_key)
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        recipient_raw = private.public_key().public_bytes(*_RAW)
        kek = _kek(shared, ephemeral_raw, recipient_raw)
        return AESGCM(kek).decrypt(_unb64(wrapped.nonce), _unb64(wrapped.wrapped_key), aad)
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise DecryptionFailed("the wrapped key does not open with this private key") from exc


class FieldKeyHandover:
    """The FieldKeyWrapper port: the desensitizer's per-recipient key, wrapped on request."""

    def __init__(self, keystore: KeyStore, algorithm: str) -> None:
        self._keystore = keystore
        self.algorithm = algorithm

    def wrap_for(self, recipient: str, public_key: str) -> WrappedFieldKey:
        """``recipient``'s field key (as the desensitizer derives it) wrapped to ``public_key``."""
        recipient_raw = parse_public_key(public_key)
        data_key = recipient_key(self._keystore.secret("encryption"), recipient, self.algorithm)
        kid = key_id(data_key)
        wrapped = wrap_key(data_key, recipient_raw, context(recipient, self.algorithm, kid))
        return WrappedFieldKey(
            recipient=recipient,
            algorithm=self.algorithm,
            key_id=kid,
            wrapping=WRAPPING,
            recipient_key=public_key_fingerprint(recipient_raw),
            ephemeral_public_key=wrapped.ephemeral_public_key,
            nonce=wrapped.nonce,
            wrapped_key=wrapped.wrapped_key,
        )
