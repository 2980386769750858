"""Every source read is bounded by a statement timeout the database enforces: a real slow read on
SQLite, PostgreSQL and MariaDB (a view whose read sleeps far longer than the timeout) is cut off and
becomes SourceTimeout, and the source keeps serving ordinary reads afterwards.

Nothing here measures time: had the timeout not worked, the read would return its rows (after a
minute or more) and the ``pytest.raises`` would fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.adapters.sql.sources import SqlSource
from gateway.errors import SourceError, SourceTimeout
from gateway.ports import SourceQuery
from tests.support.demo_databases import DemoDatabases, backend_params, demo_for

COLUMNS = (("_subject", "uscc"), ("decision_number", "decision_number"))
SLOW_VIEW = {
    # A scalar subquery counting to a billion: minutes of work for SQLite's virtual machine.
    "sqlite": "CREATE VIEW slow_penalties AS SELECT p.* FROM admin_penalties p WHERE (WITH RECURSIVE "
    "c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT max(x) FROM c) > 0",
    "postgresql": "CREATE VIEW slow_penalties AS SELECT p.* FROM admin_penalties p, pg_sleep(120) s",
    "mariadb": "CREATE VIEW slow_penalties AS SELECT p.* FROM admin_penalties p WHERE SLEEP(120) = 0",
}


@pytest.fixture(scope="module", params=backend_params())
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDatabases]:
    with demo_for(request, request.param, tmp_path_factory.mktemp("slow")) as built:
        writable = create_engine(built.urls["market"])
        with writable.begin() as conn:
            conn.execute(text(SLOW_VIEW[built.backend]))
        writable.dispose()
        yield built


def query(table: str, subject: str) -> SourceQuery:
    return SourceQuery("market", table, "uscc", (subject,), COLUMNS, (), 10)


def test_a_slow_read_is_cut_off_by_the_database(demo: DemoDatabases, tmp_path: Path) -> None:
    subject = demo.manifest.legal_person.value
    source = SqlSource(demo.urls["market"], name="market", statement_timeout_s=0.5)
    try:
        with pytest.raises(SourceTimeout) as caught:
            source.fetch(query("slow_penalties", subject))
        assert caught.value.code == "source_timeout"
        assert isinstance(caught.value, SourceError)  # callers that know only source errors still refuse
        assert subject not in caught.value.detail
        # The connection the timeout interrupted goes back to the pool usable.
        for _ in range(3):
            assert source.fetch(query("admin_penalties", subject))
    finally:
        source.close()


def test_an_ordinary_read_is_well_within_the_default_timeout(demo: DemoDatabases) -> None:
    source = SqlSource(demo.urls["market"], name="market")
    try:
        assert source.fetch(query("admin_penalties", demo.manifest.legal_person.value))
    finally:
        source.close()
