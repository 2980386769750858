"""OPA mode: the signed bundle, and decisions refused while OPA's loaded revision is not the active one.

What is real here and what is not: the bundle is verified as OPA's bundle plugin verifies one (the
JWS of ``.signatures.json`` with the public key, every file's SHA-256 against its claims, JSON files
over their canonical form) by this test, not by OPA, since no ``opa`` binary is installed here; its
contents are then evaluated by OPA's own Go library (``opa_bindings``) behind the Data API test
double of ``tests/support/real_opa.py``, with the manifest placed at
``data.system.bundles.gateway.manifest`` as OPA's bundle activation places it. The revision check
reads it back over real HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.adapters.policy.opa import OpaEngine
from gateway.adapters.policy.opa_bundle import (
    RevisionCheckedEngine,
    build_bundle,
    canonical,
    read_bundle_archive,
)
from gateway.adapters.policy.regorus import load_policy_sources
from gateway.adapters.policy.workbench import read_bundle
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.policy_bundles import SqlPolicyStore
from gateway.domain.policy_bundle import files_digest
from gateway.errors import PolicyEngineError, PolicyRevisionMismatch
from gateway.ports import PolicyBundle, PolicyHistoryEntry
from tests.support.policy_inputs import DECISION, POLICIES_DIR, decision_input
from tests.support.real_opa import GoOpaBackedServer, go_opa_library, missing_real_opa

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlPolicyStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    yield SqlPolicyStore("", engine=engine)
    engine.dispose()


def verified_files(archive: bytes, key: ECKey) -> dict[str, bytes]:
    """The bundle's files once its signature and every hash check out (as OPA's bundle plugin does)."""
    files = read_bundle_archive(archive)
    signatures = json.loads(files.pop(".signatures.json"))["signatures"]
    assert len(signatures) == 1
    token = jwt.decode(signatures[0], key, algorithms=["ES256"])
    assert token.header["alg"] == "ES256"
    claimed = {f["name"]: f for f in token.claims["files"]}
    assert set(claimed) == set(files)
    for name, content in files.items():
        if name.endswith(".json") or name == ".manifest":
            content = canonical(json.loads(content))
        assert claimed[name] == {
            "name": name,
            "hash": hashlib.sha256(content).hexdigest(),
            "algorithm": "SHA-256",
        }
    return files


def test_the_bundle_is_signed_over_every_file_and_names_its_revision(key: ECKey) -> None:
    revision = load_policy_sources(POLICIES_DIR).revision
    archive = build_bundle(read_bundle(POLICIES_DIR), revision, key.as_pem(private=True), "gateway-bundle")
    files = verified_files(archive, key)
    assert json.loads(files[".manifest"]) == {"revision": revision, "roots": [""]}
    assert not any(name.endswith("_test.rego") for name in files)
    assert "catalog/national/data.json" in files
    assert (
        build_bundle(read_bundle(POLICIES_DIR), revision, key.as_pem(private=True), "gateway-bundle") != b""
    )

    # A file changed after signing no longer matches its claim.
    tampered = dict(files)
    tampered["gateway/query/query.rego"] += b"\n"
    digest = hashlib.sha256(tampered["gateway/query/query.rego"]).hexdigest()
    token = jwt.decode(json.loads(read_bundle_archive(archive)[".signatures.json"])["signatures"][0], key)
    claims = {f["name"]: f["hash"] for f in token.claims["files"]}
    assert claims["gateway/query/query.rego"] != digest

    other = ECKey.generate_key("P-256")
    with pytest.raises(Exception):  # noqa: B017, PT011 - joserfc raises its BadSignatureError
        jwt.decode(json.loads(read_bundle_archive(archive)[".signatures.json"])["signatures"][0], other)


def test_decisions_are_refused_while_opa_reports_another_revision(
    key: ECKey, store: SqlPolicyStore, tmp_path: Path
) -> None:
    if go_opa_library() is None:
        missing_real_opa("the OPA-mode revision check")
    files = read_bundle(POLICIES_DIR)
    revision = load_policy_sources(POLICIES_DIR).revision
    archive = build_bundle(files, revision, key.as_pem(private=True), "gateway-bundle")
    loaded = tmp_path / "opa"
    for name, content in verified_files(archive, key).items():
        target = loaded / ("system/bundles/gateway/manifest/data.json" if name == ".manifest" else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    bundle_id = store.add(
        PolicyBundle(0, revision, files_digest(files), None, "gateway", "", NOW, files, "", "base")
    )
    assert store.set_active(bundle_id, revision, NOW)
    catalog_revision = json.loads((loaded / "catalog/national/data.json").read_text())["revision"]
    document = decision_input(f"national@{catalog_revision}")

    with GoOpaBackedServer(loaded) as opa:
        engine = RevisionCheckedEngine(OpaEngine(opa.url, "", 5.0))
        engine._store = store
        engine.refresh()
        assert engine.reported == revision
        assert engine.revision == revision
        decision = engine.evaluate(DECISION, document)
        assert isinstance(decision, dict)
        assert "allow" in decision

        # Another bundle becomes active: until OPA reports it loaded, every decision is refused.
        other = "sha256:" + "0" * 64
        other_id = store.add(PolicyBundle(0, other, "x", revision, "a", "s", NOW, files, "", "draft"))
        store.switch(
            PolicyHistoryEntry(0, "activate", other_id, other, revision, "a", "b", NOW, 1), bundle_id
        )
        engine.refresh()
        assert (engine.expected, engine.reported) == (other, revision)
        with pytest.raises(PolicyRevisionMismatch):
            engine.evaluate(DECISION, document)
        assert engine.healthy() is False

    # OPA gone: nothing reported, still refused.
    engine.refresh()
    assert engine.reported is None
    with pytest.raises(PolicyEngineError) as refused:
        engine.evaluate(DECISION, document)
    assert refused.value.problem_code == "policy_engine_error"
