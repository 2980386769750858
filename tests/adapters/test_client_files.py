"""Client registry and client-secret hashing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from gateway.adapters.client_files import (
    KNOWN_SCOPES,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    ClientRecord,
    ClientRegistry,
    hash_client_secret,
    new_client,
    verify_client_secret,
)
from gateway.errors import ConfigurationError

FAST = {"n": 2**12, "r": 8, "p": 1}


def test_hash_encodes_its_parameters_and_a_fresh_salt() -> None:
    first = hash_client_secret("s3cret-value")
    second = hash_client_secret("s3cret-value")
    assert first.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")
    assert len(first.split("$")) == 6
    assert first != second  # salted
    assert "s3cret-value" not in first


def test_verify_accepts_the_secret_and_nothing_else() -> None:
    encoded = hash_client_secret("correct horse", **FAST)
    assert verify_client_secret("correct horse", encoded)
    assert not verify_client_secret("correct horsf", encoded)
    assert not verify_client_secret("", encoded)


def test_verify_uses_the_parameters_stored_in_the_hash() -> None:
    cheap = hash_client_secret("abc", n=2**10, r=4, p=1)
    assert cheap.startswith("scrypt$1024$4$1$")
    assert verify_client_secret("abc", cheap)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h.replace("scrypt$", "bcrypt$"),
        lambda h: h.rsplit("$", 1)[0] + "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        lambda h: "$".join(h.split("$")[:5]),
        lambda h: h.replace("$4096$", "$4097$"),
        lambda h: h.replace("$4096$", f"${2**24}$"),
        lambda h: "",
    ],
    ids=["scheme", "digest", "truncated", "n-not-power-of-two", "n-too-large", "empty"],
)
def test_verify_refuses_a_mangled_hash(mangle: object) -> None:
    encoded = hash_client_secret("abc", **FAST)
    assert callable(mangle)
    assert not verify_client_secret("abc", mangle(encoded))


def test_hash_refuses_parameters_verification_would_refuse() -> None:
    with pytest.raises(ConfigurationError):
        hash_client_secret("abc", n=3)
    with pytest.raises(ConfigurationError):
        hash_client_secret("abc", p=100)
    with pytest.raises(ConfigurationError):
        hash_client_secret("")


def test_production_parameters_are_slow_enough() -> None:
    encoded = hash_client_secret("abc")
    started = time.perf_counter()
    assert verify_client_secret("abc", encoded)
    elapsed = time.perf_counter() - started
    assert elapsed > 0.02, f"scrypt verification took only {elapsed * 1000:.1f} ms"


def test_new_client_returns_the_secret_once_and_keeps_only_its_hash() -> None:
    record, secret = new_client("regulator", "market_regulation", ["query"], **FAST)
    assert record.check_secret(secret)
    assert len(secret) >= 40
    assert secret not in repr(record)
    assert "secret_hash" not in repr(record)
    assert secret not in json.dumps(record.as_dict())
    assert record.scopes == frozenset({"query"})


def _document(*records: ClientRecord) -> list[dict[str, object]]:
    return [r.as_dict() for r in records]


def test_registry_from_yaml_and_json_files(tmp_path: Path) -> None:
    a, a_secret = new_client("regulator", "market_regulation", ["query", "grants:write"], **FAST)
    b, _ = new_client("auditor", "audit_office", ["audit:read"], **FAST)
    yaml_path = tmp_path / "clients.yaml"
    yaml_path.write_text(yaml.safe_dump({"clients": _document(a, b)}))
    json_path = tmp_path / "clients.json"
    json_path.write_text(json.dumps(_document(a, b)))

    for path in (yaml_path, json_path):
        registry = ClientRegistry.from_file(path)
        assert len(registry) == 2
        assert registry.get("regulator") == a
        assert registry.get("nobody") is None
        assert "auditor" in registry
        assert registry.authenticate("regulator", a_secret) == a


def test_registry_document_round_trips(tmp_path: Path) -> None:
    a, secret = new_client("regulator", "market_regulation", ["query"], **FAST)
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump(ClientRegistry([a]).to_document()))
    assert ClientRegistry.from_file(path).authenticate("regulator", secret) == a
    assert secret not in path.read_text()


def test_authenticate_refuses_wrong_secret_and_unknown_client() -> None:
    record, secret = new_client("regulator", "market_regulation", ["query"], **FAST)
    registry = ClientRegistry([record])
    assert registry.authenticate("regulator", secret) == record
    assert registry.authenticate("regulator", secret + "x") is None
    assert registry.authenticate("stranger", secret) is None


def test_unknown_client_costs_as_much_as_a_wrong_secret() -> None:
    # Both paths run one scrypt with the production parameters; without the decoy the unknown id
    # would answer in microseconds and reveal which client ids exist.
    record, _ = new_client("regulator", "market_regulation", ["query"])
    registry = ClientRegistry([record])
    registry.authenticate("stranger", "warm-up")  # builds the decoy hash once
    started = time.perf_counter()
    registry.authenticate("regulator", "wrong")
    known = time.perf_counter() - started
    started = time.perf_counter()
    registry.authenticate("stranger", "wrong")
    unknown = time.perf_counter() - started
    assert unknown > known * 0.3, f"unknown {unknown * 1000:.1f} ms vs known {known * 1000:.1f} ms"


def _raw(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "client_id": "regulator",
        "department": "market_regulation",
        "scopes": ["query"],
        "secret_hash": hash_client_secret("abc", **FAST),
    }
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not None}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([_raw(scopes=["query", "superuser"])], "unknown scope"),
        ([_raw(), _raw()], "registered twice"),
        ([_raw(secret_hash=None)], "secret_hash is required"),
        ([_raw(secret_hash="plaintext")], "not a valid scrypt hash"),
        ([_raw(secret="abc")], "unknown key"),
        ([_raw(scopes=[])], "non-empty list"),
        ([_raw(scopes="query")], "non-empty list"),
        ([_raw(client_id="bad id")], "client_id"),
        ([_raw(department="")], "department"),
        ({"clients": "nope"}, "list of clients"),
        ("just text", "list of clients"),
        (["not a mapping"], "must be a mapping"),
    ],
)
def test_registry_refuses_bad_configuration(document: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientRegistry.from_document(document)


def test_registry_refuses_unknown_scope_in_a_record_built_in_code() -> None:
    record, _ = new_client("regulator", "market_regulation", ["query"], **FAST)
    bad = ClientRecord("x", "d", frozenset({"root"}), record.secret_hash)
    with pytest.raises(ConfigurationError, match="unknown scope"):
        ClientRegistry([bad])


def test_unreadable_or_invalid_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        ClientRegistry.from_file(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid"):
        ClientRegistry.from_file(broken)


def test_known_scopes() -> None:
    assert set(KNOWN_SCOPES) == {
        "query",
        "grants:read",
        "grants:write",
        "records:repair",
        "lists:write",
        "audit:read",
        "audit:review",
        "policy:admin",
    }
