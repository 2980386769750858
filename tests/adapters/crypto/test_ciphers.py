"""Authenticated encryption to recipients (gateway.adapters.crypto.ciphers)."""

from __future__ import annotations

import base64
import os
import random
import re
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.adapters.crypto.ciphers import (
    AES_256_GCM,
    ALGORITHMS,
    RFC8998_AAD,
    RFC8998_KEY,
    RFC8998_NONCE,
    RFC8998_PLAINTEXT,
    RFC8998_SEALED,
    SM4_GCM,
    FieldCipher,
    GmsslSm4Gcm,
    OpenSslSm4Gcm,
    associated_data,
    decrypt_value,
    encrypt_value,
    recipient_key,
)
from gateway.adapters.key_files import FileKeyStore
from gateway.errors import DesensitizationError

TOKEN = re.compile(r"enc:v1:(aes-256-gcm|sm4-gcm):[A-Za-z0-9+/]+={0,2}")
SM4_IMPLEMENTATIONS = [OpenSslSm4Gcm, GmsslSm4Gcm]


@pytest.mark.parametrize("implementation", SM4_IMPLEMENTATIONS)
def test_sm4_gcm_reproduces_the_rfc8998_vector(implementation: type[OpenSslSm4Gcm]) -> None:
    aead = implementation(RFC8998_KEY)
    assert aead.seal(RFC8998_NONCE, RFC8998_PLAINTEXT, RFC8998_AAD) == RFC8998_SEALED
    assert aead.open(RFC8998_NONCE, RFC8998_SEALED, RFC8998_AAD) == RFC8998_PLAINTEXT


@pytest.mark.parametrize("implementation", SM4_IMPLEMENTATIONS)
def test_sm4_gcm_rejects_any_damage(implementation: type[OpenSslSm4Gcm]) -> None:
    aead = implementation(RFC8998_KEY)
    for index in (0, 31, 63, 64, 79):
        damaged = bytearray(RFC8998_SEALED)
        damaged[index] ^= 0x01
        with pytest.raises(InvalidTag):
            aead.open(RFC8998_NONCE, bytes(damaged), RFC8998_AAD)
    with pytest.raises(InvalidTag):
        aead.open(RFC8998_NONCE, RFC8998_SEALED, RFC8998_AAD + b"x")
    with pytest.raises(InvalidTag):
        aead.open(bytes(12), RFC8998_SEALED, RFC8998_AAD)


def test_the_gmssl_construction_agrees_with_openssl_on_every_length() -> None:
    rng = random.Random(1)
    for length in [*range(0, 50), 100, 257]:
        key, nonce = rng.randbytes(16), rng.randbytes(12)
        plaintext, aad = rng.randbytes(length), rng.randbytes(length % 37)
        sealed = OpenSslSm4Gcm(key).seal(nonce, plaintext, aad)
        assert GmsslSm4Gcm(key).seal(nonce, plaintext, aad) == sealed
        assert GmsslSm4Gcm(key).open(nonce, sealed, aad) == plaintext


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("value", ["110105199003071234", "张三", 13812345678, 12.5, None, {"a": [1, "二"]}])
def test_values_round_trip(algorithm: str, value: object) -> None:
    secret = os.urandom(32)
    token = encrypt_value(
        secret, value, recipient="dept-a", item="penalties", field="id_no", algorithm=algorithm
    )
    assert TOKEN.fullmatch(token)
    assert token.startswith(f"enc:v1:{algorithm}:")
    key = recipient_key(secret, "dept-a", algorithm)
    assert decrypt_value(key, token, recipient="dept-a", item="penalties", field="id_no") == value


def test_dates_come_back_as_iso_text() -> None:
    secret = os.urandom(32)
    token = encrypt_value(secret, date(2026, 1, 2), recipient="r", item="i", field="f")
    assert (
        decrypt_value(recipient_key(secret, "r"), token, recipient="r", item="i", field="f") == "2026-01-02"
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_equal_values_encrypt_differently_and_nonces_never_repeat(algorithm: str) -> None:
    cipher = FieldCipher(recipient_key(os.urandom(32), "r", algorithm), algorithm)
    aad = associated_data(algorithm, "r", "i", "f")
    tokens = [cipher.encrypt("same", aad) for _ in range(2000)]
    nonces = {base64.b64decode(t.rsplit(":", 1)[1])[:12] for t in tokens}
    assert len(set(tokens)) == len(tokens)
    assert len(nonces) == len(tokens)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_tampered_byte_fails_to_decrypt(algorithm: str) -> None:
    secret = os.urandom(32)
    token = encrypt_value(
        secret, "11010519900307123X", recipient="r", item="i", field="f", algorithm=algorithm
    )
    key = recipient_key(secret, "r", algorithm)
    prefix, blob = token.rsplit(":", 1)
    raw = base64.b64decode(blob)
    for index in range(len(raw)):
        damaged = bytearray(raw)
        damaged[index] ^= 0x80
        forged = f"{prefix}:{base64.b64encode(bytes(damaged)).decode()}"
        with pytest.raises(DesensitizationError) as err:
            decrypt_value(key, forged, recipient="r", item="i", field="f")
        assert err.value.code == "decryption_failed"
    truncated = f"{prefix}:{base64.b64encode(raw[:-1]).decode()}"
    with pytest.raises(DesensitizationError):
        decrypt_value(key, truncated, recipient="r", item="i", field="f")


@pytest.mark.parametrize(
    ("recipient", "item", "field"),
    [("other", "i", "f"), ("r", "other", "f"), ("r", "i", "other")],
)
def test_a_ciphertext_moved_to_another_recipient_item_or_field_fails(
    recipient: str, item: str, field: str
) -> None:
    secret = os.urandom(32)
    token = encrypt_value(secret, "secret value", recipient="r", item="i", field="f")
    key = recipient_key(secret, recipient)
    with pytest.raises(DesensitizationError):
        decrypt_value(key, token, recipient=recipient, item=item, field=field)


def test_another_recipients_key_fails() -> None:
    secret = os.urandom(32)
    token = encrypt_value(secret, "v", recipient="dept-a", item="i", field="f")
    with pytest.raises(DesensitizationError):
        decrypt_value(recipient_key(secret, "dept-b"), token, recipient="dept-a", item="i", field="f")


def test_relabelling_the_algorithm_fails() -> None:
    secret = os.urandom(32)
    token = encrypt_value(secret, "v", recipient="r", item="i", field="f", algorithm=SM4_GCM)
    relabelled = token.replace(SM4_GCM, AES_256_GCM, 1)
    with pytest.raises(DesensitizationError):
        decrypt_value(recipient_key(secret, "r", AES_256_GCM), relabelled, recipient="r", item="i", field="f")


def test_recipient_keys_differ_per_recipient_and_algorithm(keystore: FileKeyStore) -> None:
    secret = keystore.secret("encryption")
    keys = {recipient_key(secret, r, a) for r in ("dept-a", "dept-b") for a in ALGORITHMS}
    assert len(keys) == 4
    assert len(recipient_key(secret, "dept-a", AES_256_GCM)) == 32
    assert len(recipient_key(secret, "dept-a", SM4_GCM)) == 16


def test_the_documented_format_decrypts_with_plain_aes_gcm(keystore: FileKeyStore) -> None:
    secret = keystore.secret("encryption")
    token = encrypt_value(secret, "张三", recipient="dept-a", item="penalties", field="name")
    raw = base64.b64decode(token.removeprefix("enc:v1:aes-256-gcm:"))
    aad = b'["enc:v1", "aes-256-gcm", "dept-a", "penalties", "name"]'
    assert aad == associated_data(AES_256_GCM, "dept-a", "penalties", "name")
    plaintext = AESGCM(recipient_key(secret, "dept-a")).decrypt(raw[:12], raw[12:], aad)
    assert plaintext.decode("utf-8") == '"张三"'


def test_unknown_algorithm_and_wrong_key_length_are_refused() -> None:
    with pytest.raises(DesensitizationError):
        recipient_key(bytes(32), "r", "aes-128-cbc")
    with pytest.raises(DesensitizationError):
        FieldCipher(bytes(16), AES_256_GCM)
    with pytest.raises(DesensitizationError):
        decrypt_value(bytes(32), "enc:v2:aes-256-gcm:AAAA", recipient="r", item="i", field="f")
