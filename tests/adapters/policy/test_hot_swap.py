"""Switching bundles without a restart: the watcher, the pool's swap, and a bundle that fails to load.

Real SQLite database migrated to head, the real policies on regorus, the real pool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.adapters.policy.hot import BundleWatcher
from gateway.adapters.policy.pool import PooledPolicyEngine
from gateway.adapters.policy.regorus import RegorusEngine, load_policy_sources
from gateway.adapters.policy.workbench import read_bundle
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.policy_bundles import SqlPolicyStore
from gateway.domain.policy_bundle import files_digest
from gateway.ports import PolicyBundle, PolicyHistoryEntry
from tests.support.policy_inputs import DECISION, POLICIES_DIR, decision_input

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
CATALOG = "catalog/national/data.yaml"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlPolicyStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    store = SqlPolicyStore("", engine=engine)
    yield store
    engine.dispose()


def add(store: SqlPolicyStore, files: dict[str, bytes], revision: str) -> int:
    return store.add(
        PolicyBundle(0, revision, files_digest(files), None, "alice", "security", NOW, files, "", "draft")
    )


def activate(store: SqlPolicyStore, bundle_id: int, revision: str) -> None:
    entry = PolicyHistoryEntry(0, "activate", bundle_id, revision, "parent", "alice", "bob", NOW, 0)
    store.switch(entry, None)


def revision_of(files: dict[str, bytes], tmp: Path) -> str:
    for rel, content in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(content)
    return load_policy_sources(tmp).revision


def test_a_broken_bundle_leaves_the_previous_one_serving_and_a_good_one_switches(
    store: SqlPolicyStore, tmp_path: Path
) -> None:
    base = RegorusEngine(POLICIES_DIR)
    pool = PooledPolicyEngine(base, 2)
    try:
        files = read_bundle(POLICIES_DIR)
        base_id = add(store, files, base.revision)
        assert store.set_active(base_id, base.revision, NOW)
        watcher = BundleWatcher(store, pool, retry_s=0)
        assert watcher.check() is False  # already serving the active bundle

        catalog_revision = base.evaluate("gateway.catalog.revision", {})
        document = decision_input(catalog_revision)
        expected = base.evaluate(DECISION, document)

        # A bundle whose Rego does not compile is made active (bypassing the checks on purpose).
        broken = dict(files)
        broken["gateway/query/query.rego"] = files["gateway/query/query.rego"] + b"\nbroken if {\n"
        broken_revision = revision_of(broken, tmp_path / "broken")
        activate(store, add(store, broken, broken_revision), broken_revision)
        assert watcher.check() is False
        assert pool.revision == base.revision
        assert pool.evaluate(DECISION, document) == expected
        assert broken_revision in watcher.failed

        # A good bundle switches, while decisions keep being asked from many threads: none is lost.
        good = dict(files)
        good[CATALOG] = files[CATALOG] + b"\n# a comment changes the revision, not a decision\n"
        good_revision = revision_of(good, tmp_path / "good")
        activate(store, add(store, good, good_revision), good_revision)
        answers: list[object] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def ask() -> None:
            while not stop.is_set():
                try:
                    pinned = pool.pinned()
                    answers.append((pinned.revision, pinned.evaluate(DECISION, document)))
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            assert watcher.check() is True
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert errors == []
        assert pool.revision == good_revision
        assert {revision for revision, _ in answers} <= {base.revision, good_revision}
        assert all(answer == expected for _, answer in answers)
        pinned = pool.pinned()
        assert pinned.revision == good_revision
        assert pinned.evaluate(DECISION, document) == expected
    finally:
        pool.close()
