"""The field-key hand-over over real HTTP: a recipient obtains the key to its ``encrypt`` fields,
wrapped to its own X25519 key, registered in the ledger, and decrypts a field of a real query."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.adapters.crypto.ciphers import decrypt_value
from gateway.adapters.crypto.handover import WrappedKey, context, public_key_fingerprint, unwrap_key
from gateway.errors import DecryptionFailed
from tests.api.test_queries import licensing_query
from tests.support.gateway_app import ROOT, Deployment, deployment_settings, running_gateway

ITEM = "market.enterprise_registration"
FIELD = "legal_rep_name"
MASKED = f"{FIELD}: {{column: {FIELD}, class: name, desensitize: mask,"
ENCRYPTED = f"{FIELD}: {{column: {FIELD}, class: name, desensitize: encrypt,"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("handover")
    policies = tmp / "policies"
    shutil.copytree(ROOT / "policies", policies)
    catalog = policies / "catalog" / "national" / "data.yaml"
    text = catalog.read_text(encoding="utf-8")
    assert MASKED in text
    catalog.write_text(text.replace(MASKED, ENCRYPTED), encoding="utf-8")
    with running_gateway(deployment_settings(tmp, policies_dir=policies)) as deployment:
        yield deployment


def _raw_public(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_over(gateway: Deployment, client_id: str, public_key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/keys/field-key",
        json={"public_key": public_key},
        headers={"Authorization": f"Bearer {gateway.token(client_id)}"},
        timeout=30,
    )


def _source_value(gateway: Deployment, uscc: str) -> str:
    engine = sa.create_engine(gateway.settings.sources["market"])
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    sa.text("SELECT legal_rep_name FROM enterprises WHERE uscc = :u"), {"u": uscc}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_recipient_decrypts_a_real_encrypted_field_with_its_handed_over_key(gateway: Deployment) -> None:
    subject = gateway.manifest.legal_person
    response = gateway.query("platform", licensing_query(subject.value, ITEM))
    assert response.status_code == 200, response.text
    (rows,) = [r["rows"] for r in response.json()["results"] if r["item"] == ITEM]
    ciphertext = rows[0][FIELD]
    assert ciphertext.startswith("enc:v1:aes-256-gcm:")

    private = X25519PrivateKey.generate()
    handed = hand_over(gateway, "platform", _b64(_raw_public(private)))
    assert handed.status_code == 200, handed.text
    body = handed.json()
    assert body["recipient"] == "development_reform"
    assert body["wrapping"] == "X25519-HKDF-SHA256-AES-256-GCM"
    wrapped = WrappedKey(body["ephemeral_public_key"], body["nonce"], body["wrapped_key"])
    aad = context(body["recipient"], body["algorithm"], body["key_id"])
    data_key = unwrap_key(private, wrapped, aad)
    value = decrypt_value(data_key, ciphertext, recipient=body["recipient"], item=ITEM, field=FIELD)
    assert value == _source_value(gateway, subject.value)

    # Registered: who, which key (by id), wrapped to which public key (by fingerprint); never the key.
    records = [r for r in gateway.ledger_records() if r["kind"] == "key_handover"]
    assert records[-1] == {
        "kind": "key_handover",
        "client_id": "platform",
        "department": "development_reform",
        "algorithm": "aes-256-gcm",
        "key_id": body["key_id"],
        "wrapping": "X25519-HKDF-SHA256-AES-256-GCM",
        "recipient_key": public_key_fingerprint(_raw_public(private)),
    }
    assert body["receipt"]["index"] >= 1
    assert data_key.hex() not in str(records)
    assert base64.b64encode(data_key).decode() not in handed.text

    # Only the holder of the private key opens it; another department's key does not decrypt this.
    with pytest.raises(DecryptionFailed):
        unwrap_key(X25519PrivateKey.generate(), wrapped, aad)
    other = X25519PrivateKey.generate()
    housing = hand_over(gateway, "housing", _b64(_raw_public(other))).json()
    housing_key = unwrap_key(
        other,
        WrappedKey(housing["ephemeral_public_key"], housing["nonce"], housing["wrapped_key"]),
        context(housing["recipient"], housing["algorithm"], housing["key_id"]),
    )
    assert housing_key != data_key
    with pytest.raises(DecryptionFailed):
        decrypt_value(housing_key, ciphertext, recipient=housing["recipient"], item=ITEM, field=FIELD)


def test_a_bad_public_key_or_a_caller_without_query_scope_is_refused(gateway: Deployment) -> None:
    bad = hand_over(gateway, "platform", _b64(b"\x01" * 31) + "AAAA")
    assert bad.status_code == 422
    assert bad.json()["field"].endswith("public_key")
    auditor = hand_over(gateway, "auditor", _b64(_raw_public(X25519PrivateKey.generate())))
    assert auditor.status_code == 403
    before = len([r for r in gateway.ledger_records() if r["kind"] == "key_handover"])
    short = hand_over(gateway, "platform", _b64(b"\x01" * 20))
    assert short.status_code == 422
    low_order = hand_over(gateway, "platform", _b64(bytes(32)))
    assert low_order.status_code == 422, low_order.text
    assert len([r for r in gateway.ledger_records() if r["kind"] == "key_handover"]) == before
