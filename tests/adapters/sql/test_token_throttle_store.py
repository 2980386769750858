"""The shared failure counters on real SQLite and PostgreSQL: concurrent failures are all counted
(as they would be from several workers), lockouts grow, old failures are forgotten, clear is per key."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.token_throttle import SqlThrottleStore
from gateway.domain.throttle import LockoutPolicy
from tests.support.ledger import ledger_target, migrate_database

POLICY = LockoutPolicy(after=3, base_s=10, factor=2, max_s=60, window_s=100)
NOW = 1_800_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Engine]]:
    postgres_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with ledger_target(request.param, tmp_path, postgres_url) as (url, schema):
        migrate_database(url, schema)
        # Two engines on one database: two workers, each with its own pool.
        made = [make_engine(url, schema=schema) for _ in range(2)]
        try:
            yield made
        finally:
            for engine in made:
                engine.dispose()


def test_concurrent_failures_from_two_workers_are_all_counted(engines: list[Engine]) -> None:
    stores = [SqlThrottleStore(engine) for engine in engines]
    with ThreadPoolExecutor(max_workers=8) as pool:
        locks = list(pool.map(lambda n: stores[n % 2].record_failure("k", NOW, POLICY), range(8)))
    # Eight failures in a row: the lock of the 8th is base * 2 ** 5, capped at 60 s.
    assert max(locks) == NOW + 60_000
    assert stores[0].locked_until_ms(["k", "other"]) == {"k": NOW + 60_000}


def test_lockouts_grow_old_failures_are_forgotten_and_clear_is_per_key(engines: list[Engine]) -> None:
    store = SqlThrottleStore(engines[0])
    assert [store.record_failure("a", NOW, POLICY) for _ in range(4)] == [0, 0, NOW + 10_000, NOW + 20_000]
    store.record_failure("b", NOW, POLICY)
    later = NOW + 101_000  # past the window: counting starts again, the old lock is kept until it ends
    assert store.record_failure("a", later, POLICY) == NOW + 20_000
    store.clear("a")
    assert store.locked_until_ms(["a", "b"]) == {"b": 0}
