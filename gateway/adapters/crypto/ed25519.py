"""Ed25519 (RFC 8032) on `cryptography`: the ledger's checkpoint signer and the verifiers' check."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import KeyUnavailable


def ed25519_public_key(pem: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a PEM (SubjectPublicKeyInfo) public key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise KeyUnavailable("the ledger public key is unreadable") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnavailable("the ledger key must be Ed25519")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification over raw key bytes; never raises on a bad signature."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class Ed25519Signer:
    """Signs with a PEM (PKCS#8) Ed25519 private key."""

    def __init__(self, private_pem: bytes) -> None:
        try:
            key = serialization.load_pem_private_key(private_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyUnavailable("the ledger signing key is unreadable") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyUnavailable("the ledger signing key must be Ed25519")
        self._key = key
        self.public_key = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message``."""
        return self._key.sign(message)


def new_ed25519_pem() -> bytes:
    """A new Ed25519 private key as PEM (PKCS#8), for a key of its own (a witness's)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
