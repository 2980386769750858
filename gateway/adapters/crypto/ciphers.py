"""Authenticated encryption of released values to one recipient: AES-256-GCM and SM4-GCM.

Presidio's built-in ``encrypt`` operator is AES-CBC without integrity; nothing that leaves the gateway
uses it. A value encrypted here reads::

    enc:v1:<alg>:<base64(nonce || ciphertext || tag)>        alg = aes-256-gcm | sm4-gcm

* 96-bit nonce, 128-bit tag. Each ``FieldCipher`` draws a random 96-bit starting nonce and counts up
  from it (under a lock), so one instance never repeats a nonce and two instances with the same key
  collide only if their ranges overlap: about N^2*M/2^96 for N instances of M values each, far below
  the 2^-32 bound of SP 800-38D 8.3 and cheaper than a fresh ``os.urandom`` per value.
* The plaintext is the value's compact JSON (UTF-8), so strings, numbers and dates (as ISO text)
  come back as JSON values.
* The associated data binds the ciphertext to where it was released: the JSON array
  ``["enc:v1", alg, recipient, item, field]``. A ciphertext moved to another field, item or recipient
  fails to decrypt.
* Keys are per recipient: HKDF-SHA256 over the gateway's ``encryption`` secret with
  ``info = "encryption" 0x00 alg 0x00 recipient`` (32 bytes for AES-256, 16 for SM4). The recipient is
  given its derived key (``recipient_key``) out of band and decrypts with ``decrypt_value``.

SM4-GCM: the ``cryptography`` package exposes SM4 as a block cipher with a GCM mode when its OpenSSL has
SM4 (the wheels do); that implementation reproduces the RFC 8998 appendix A.1 test vector and is used
when available. Where OpenSSL lacks SM4, GCM (NIST SP 800-38D: 96-bit IV, GHASH over GF(2^128)) is built
here over ``gmssl``'s SM4 block function, which only offers ECB/CBC modes itself; it is checked against
the same vector and against the OpenSSL implementation in the tests. It is slow (pure Python) and is a
fallback only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import threading
from collections.abc import Callable
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from gmssl import sm4 as gmssl_sm4

from gateway.domain.desensitize.operators import hkdf_sha256
from gateway.errors import BadEncryptionKey, DecryptionFailed, UnknownAlgorithm

AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
ALGORITHMS = (AES_256_GCM, SM4_GCM)
VERSION = "enc:v1"
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_BYTES = {AES_256_GCM: 32, SM4_GCM: 16}

JSON = Any


class _Aead(Protocol):
    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes: ...


class _AesGcm:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(nonce, sealed, aad)


class OpenSslSm4Gcm:
    """SM4-GCM through ``cryptography`` (OpenSSL's implementation)."""

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.SM4(key)

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        enc = Cipher(self._algorithm, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        return enc.update(plaintext) + enc.finalize() + enc.tag

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < TAG_BYTES:
            raise InvalidTag
        dec = Cipher(self._algorithm, modes.GCM(nonce, sealed[-TAG_BYTES:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(sealed[:-TAG_BYTES]) + dec.finalize()


_GCM_R = 0xE1 << 120


def _gf_mult(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _GCM_R if v & 1 else v >> 1
    return z


class GmsslSm4Gcm:
    """SM4-GCM built from ``gmssl``'s SM4 block function (SP 800-38D with a 96-bit IV)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("SM4 keys are 16 bytes")
        self._sm4 = gmssl_sm4.CryptSM4()
        self._sm4.set_key(key, gmssl_sm4.SM4_ENCRYPT)
        self._h = int.from_bytes(self._block(bytes(16)), "big")

    def _block(self, block: bytes) -> bytes:
        return bytes(self._sm4.one_round(self._sm4.sk, list(block)))

    def _ghash(self, aad: bytes, ciphertext: bytes) -> int:
        y = 0
        for data in (aad, ciphertext):
            for i in range(0, len(data), 16):
                chunk = data[i : i + 16].ljust(16, b"\0")
                y = _gf_mult(y ^ int.from_bytes(chunk, "big"), self._h)
        lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
        return _gf_mult(y ^ int.from_bytes(lengths, "big"), self._h)

    def _ctr(self, nonce: bytes, data: bytes) -> bytes:
        out = bytearray()
        for n, i in enumerate(range(0, len(data), 16), start=2):
            stream = self._block(nonce + n.to_bytes(4, "big"))
            out += bytes(a ^ b for a, b in zip(data[i : i + 16], stream, strict=False))
        return bytes(out)

    def _tag(self, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        s = self._ghash(aad, ciphertext)
        j0 = int.from_bytes(self._block(nonce + (1).to_bytes(4, "big")), "big")
        return (s ^ j0).to_bytes(16, "big")

    def seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        if len(nonce) != NONCE_BYTES:
            raise ValueError("SM4-GCM here takes a 96-bit nonce")
        ciphertext = self._ctr(nonce, plaintext)
        return ciphertext + self._tag(nonce, aad, ciphertext)

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(nonce) != NONCE_BYTES or len(sealed) < TAG_BYTES:
            raise InvalidTag
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        if not hmac.compare_digest(self._tag(nonce, aad, ciphertext), tag):
            raise InvalidTag
        return self._ctr(nonce, ciphertext)


# RFC 8998 appendix A.1 (SM4-GCM).
RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_NONCE = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_SEALED = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    "83DE3541E4C2B58177E065A9BF7B62EC"
)


def _openssl_has_sm4_gcm() -> bool:
    try:
        sealed = OpenSslSm4Gcm(RFC8998_KEY).seal(RFC8998_NONCE, RFC8998_PLAINTEXT, RFC8998_AAD)
    except (UnsupportedAlgorithm, ValueError):
        return False
    return sealed == RFC8998_SEALED


SM4_GCM_BACKEND: Callable[[bytes], _Aead] = OpenSslSm4Gcm if _openssl_has_sm4_gcm() else GmsslSm4Gcm


def recipient_key(secret: bytes, recipient: str, algorithm: str = AES_256_GCM) -> bytes:
    """The key ``recipient`` decrypts its values with, derived from the gateway's encryption secret."""
    if algorithm not in _KEY_BYTES:
        raise UnknownAlgorithm(f"unknown encryption algorithm {algorithm!r}")
    info = b"encryption\x00" + algorithm.encode() + b"\x00" + recipient.encode("utf-8")
    return hkdf_sha256(secret, info=info, length=_KEY_BYTES[algorithm])


def associated_data(algorithm: str, recipient: str, item: str, field: str) -> bytes:
    """What a ciphertext is bound to: format version, algorithm, recipient, item and field."""
    return json.dumps([VERSION, algorithm, recipient, item, field], ensure_ascii=False).encode("utf-8")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _plaintext(value: JSON) -> bytes:
    if type(value) is str:
        return encode_basestring(value).encode("utf-8")  # the same bytes as json.dumps, 10x faster
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8")


class FieldCipher:
    """Encrypts values to one recipient under one algorithm; build once per recipient, reuse."""

    def __init__(self, key: bytes, algorithm: str = AES_256_GCM) -> None:
        if _KEY_BYTES.get(algorithm) != len(key):
            raise BadEncryptionKey(f"a {algorithm} key must be {_KEY_BYTES.get(algorithm)} bytes")
        self.algorithm = algorithm
        self._aead: _Aead = _AesGcm(key) if algorithm == AES_256_GCM else SM4_GCM_BACKEND(key)
        self._prefix = f"{VERSION}:{algorithm}:"
        self._lock = threading.Lock()
        self._nonce = int.from_bytes(os.urandom(NONCE_BYTES), "big")

    def _next_nonce(self) -> bytes:
        with self._lock:
            self._nonce = (self._nonce + 1) % (1 << 96)
            return self._nonce.to_bytes(NONCE_BYTES, "big")

    def encrypt(self, value: JSON, aad: bytes) -> str:
        """``enc:v1:<alg>:<base64(nonce || ciphertext || tag)>`` of the value's JSON."""
        nonce = self._next_nonce()
        sealed = self._aead.seal(nonce, _plaintext(value), aad)
        return self._prefix + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, aad: bytes) -> JSON:
        """The value back; DecryptionFailed if anything is off."""
        if not token.startswith(self._prefix):
            raise DecryptionFailed("not a ciphertext of this algorithm")
        try:
            raw = base64.b64decode(token[len(self._prefix) :], validate=True)
            plaintext = self._aead.open(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            return json.loads(plaintext.decode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionFailed("ciphertext failed authentication or is malformed") from exc


def algorithm_of(token: str) -> str:
    """The algorithm named in a ciphertext's header."""
    version, _, rest = token.partition(":v1:")
    algorithm = rest.partition(":")[0]
    if version != "enc" or algorithm not in ALGORITHMS:
        raise DecryptionFailed("not an enc:v1 ciphertext")
    return algorithm


def encrypt_value(
    secret: bytes, value: JSON, *, recipient: str, item: str, field: str, algorithm: str = AES_256_GCM
) -> str:
    """Encrypt one value to ``recipient`` for ``item``/``field`` (convenience; the hot path caches)."""
    cipher = FieldCipher(recipient_key(secret, recipient, algorithm), algorithm)
    return cipher.encrypt(value, associated_data(algorithm, recipient, item, field))


def decrypt_value(key: bytes, token: str, *, recipient: str, item: str, field: str) -> JSON:
    """What a recipient runs: decrypt ``token`` with its key from ``recipient_key``."""
    algorithm = algorithm_of(token)
    cipher = FieldCipher(key, algorithm)
    return cipher.decrypt(token, associated_data(algorithm, recipient, item, field))
