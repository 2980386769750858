"""The SQL source adapter against real SQLite, PostgreSQL and MariaDB holding the same demo data."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from gateway.adapters.sql.sources import SqlSource, SqlSourceRegistry
from gateway.demo.data import DemoDataset, generate_demo_data
from gateway.demo.schema import demo_metadata
from gateway.errors import ConfigurationError, SourceError
from gateway.ports import Condition, SourceQuery
from tests.support.demo_databases import DemoDatabases, backend_params, demo_for

CUTOFF_3Y = date(2023, 11, 22)
CUTOFF_2Y = date(2024, 11, 22)
PENALTY_COLUMNS = (
    ("_subject", "uscc"),
    ("decision_number", "decision_number"),
    ("decided_on", "decided_on"),
    ("amount", "amount"),
    ("notes", "notes"),
    ("repaired_on", "repaired_on"),
)
DEBTOR_COLUMNS = (("_subject", "subject_id"), ("listed_on", "listed_on"), ("force_majeure", "force_majeure"))


@pytest.fixture(scope="module")
def data() -> DemoDataset:
    return generate_demo_data(2020)


@pytest.fixture(scope="module", params=backend_params())
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDatabases]:
    with demo_for(request, request.param, tmp_path_factory.mktemp("demo")) as built:
        yield built


@pytest.fixture(scope="module")
def registry(demo: DemoDatabases) -> Iterator[SqlSourceRegistry]:
    sources = SqlSourceRegistry(demo.urls)
    yield sources
    sources.close()


def penalties(subjects: Sequence[str], *conditions: Condition, limit: int = 1000) -> SourceQuery:
    return SourceQuery(
        "market", "admin_penalties", "uscc", tuple(subjects), PENALTY_COLUMNS, conditions, limit
    )


def debtors(subjects: Sequence[str], *conditions: Condition) -> SourceQuery:
    return SourceQuery(
        "court", "dishonest_debtors", "subject_id", tuple(subjects), DEBTOR_COLUMNS, conditions
    )


def json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def passes(row: dict[str, Any], condition: Condition) -> bool:
    value = row[condition.column]
    if condition.op == "is_null":
        return value is None
    assert condition.value is not None
    return value is not None and value >= condition.value


def expected(data: DemoDataset, query: SourceQuery) -> list[dict[str, Any]]:
    """What the query must return, computed in Python from the generated rows."""
    found = [
        {name: json_value(row[column]) for name, column in query.columns}
        for row in sorted(data.rows[query.database][query.table], key=lambda r: r["id"])
        if row[query.subject_column] in query.subjects and all(passes(row, c) for c in query.conditions)
    ]
    return found[: query.limit]


# --- reading ---


def test_every_engine_returns_the_same_rows(registry: SqlSourceRegistry, data: DemoDataset) -> None:
    m = data.manifest
    subjects = [
        m.legal_person.value,
        m.repaired.value,
        m.past_disclosure.value,
        m.free_text_identifiers.value,
    ]
    busy = [r["uscc"] for r in data.rows["market"]["admin_penalties"][:60]]
    queries = [
        penalties(subjects),
        penalties(subjects, Condition("repaired_on", "is_null"), Condition("removed_on", "is_null")),
        penalties(busy, Condition("decided_on", "on_or_after", CUTOFF_3Y)),
        penalties(busy, limit=7),
        debtors([m.force_majeure.value, m.legal_person.value, m.removed.value, m.minor.value]),
    ]
    for query in queries:
        assert registry.source(query.database).fetch(query) == expected(data, query)
    assert len(registry.source("market").fetch(queries[3])) == 7


def test_a_reused_statement_binds_each_requests_own_values(
    registry: SqlSourceRegistry, data: DemoDataset
) -> None:
    """Statements are prepared once per shape: the same shape with other values must not see old ones."""
    rows = data.rows["market"]["admin_penalties"]
    decided = sorted({r["decided_on"] for r in rows})
    early, late = decided[len(decided) // 4], decided[3 * len(decided) // 4]
    first = sorted({r["uscc"] for r in rows})[:40]
    second = sorted({r["uscc"] for r in rows})[40:45]
    market = registry.source("market")
    queries = [
        penalties(first, Condition("decided_on", "on_or_after", early)),
        penalties(second, Condition("decided_on", "on_or_after", late)),  # same shape, other values
        penalties(first, Condition("decided_on", "on_or_after", late)),
        penalties(second, Condition("decided_on", "on_or_after", early)),
    ]
    results = [market.fetch(q) for q in queries]
    for query, got in zip(queries, results, strict=True):
        assert got == expected(data, query)
    assert results[0] != results[2]  # the cutoff really changed what came back
    assert len({len(r) for r in results}) > 1


def test_values_are_json_friendly(registry: SqlSourceRegistry, data: DemoDataset) -> None:
    m = data.manifest
    rows = registry.source("market").fetch(penalties([m.legal_person.value]))
    assert [r["decided_on"] for r in rows] == ["2025-03-18", "2026-07-02"]
    amounts = [r["amount"] for r in rows if r["amount"] is not None]
    assert amounts
    assert all(isinstance(a, str) and a.endswith(tuple(f".{n:02d}" for n in range(100))) for a in amounts)
    (flagged,) = registry.source("court").fetch(debtors([m.force_majeure.value]))
    assert flagged == {"_subject": m.force_majeure.value, "listed_on": "2026-01-10", "force_majeure": True}
    (normal,) = registry.source("court").fetch(debtors([m.natural_person_debtor.value]))
    assert normal["force_majeure"] is False  # a real boolean on MariaDB's TINYINT(1) too


def test_only_the_requested_columns_are_returned(registry: SqlSourceRegistry, data: DemoDataset) -> None:
    query = SourceQuery(
        "market", "enterprises", "uscc", (data.manifest.legal_person.value,), (("company", "name"),), ()
    )
    assert registry.source("market").fetch(query) == [{"company": data.manifest.legal_person.name}]


def test_row_conditions_filter_repaired_removed_and_old_rows(
    registry: SqlSourceRegistry, data: DemoDataset
) -> None:
    m = data.manifest
    market, court = registry.source("market"), registry.source("court")
    assert len(market.fetch(penalties([m.repaired.value]))) == 1
    assert market.fetch(penalties([m.repaired.value], Condition("repaired_on", "is_null"))) == []
    assert len(market.fetch(penalties([m.past_disclosure.value]))) == 1
    assert (
        market.fetch(penalties([m.past_disclosure.value], Condition("decided_on", "on_or_after", CUTOFF_3Y)))
        == []
    )
    assert len(court.fetch(debtors([m.removed.value]))) == 1
    assert court.fetch(debtors([m.removed.value], Condition("removed_on", "is_null"))) == []
    current = court.fetch(debtors([m.minor.value], Condition("listed_on", "on_or_after", CUTOFF_2Y)))
    assert [r["_subject"] for r in current] == [m.minor.value]


def test_no_subjects_means_no_rows(registry: SqlSourceRegistry) -> None:
    assert registry.source("market").fetch(penalties([])) == []


def test_one_parameterized_select_per_query(registry: SqlSourceRegistry, data: DemoDataset) -> None:
    source = registry.source("market")
    subject = data.manifest.legal_person.value
    source.fetch(penalties([subject]))  # warm up: the table is reflected once
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(source.engine, "before_cursor_execute", record)
    try:
        source.fetch(penalties([subject], Condition("repaired_on", "is_null")))
    finally:
        event.remove(source.engine, "before_cursor_execute", record)
    assert len(seen) == 1
    statement, parameters = seen[0]
    assert statement.lstrip().upper().startswith("SELECT")
    assert subject not in statement
    assert subject in str(parameters)
    assert "ORDER BY" in statement.upper()
    assert "LIMIT" in statement.upper()
    assert "phone" not in statement
    assert "legal_rep" not in statement


def test_concurrent_fetches_share_the_pool(registry: SqlSourceRegistry, data: DemoDataset) -> None:
    query = penalties([r["uscc"] for r in data.rows["market"]["admin_penalties"][:40]])
    want = expected(data, query)
    results: list[Any] = []

    def work() -> None:
        for _ in range(5):
            results.append(registry.source("market").fetch(query))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 30
    assert all(r == want for r in results)


# --- safety ---


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE admin_penalties SET notes = 'tampered'",
        "DELETE FROM admin_penalties",
        "INSERT INTO credit_ratings (id, uscc, year, rating, evaluated_on)"
        " VALUES (9999, 'x', 2020, 'A', '2021-04-01')",
        "CREATE TABLE intruder (a INTEGER)",
    ],
)
def test_the_sources_connections_refuse_writes(demo: DemoDatabases, statement: str) -> None:
    database = "tax" if "credit_ratings" in statement else "market"
    source = SqlSource(demo.urls[database], name=database)
    try:
        with source.engine.connect() as conn:
            with pytest.raises(DBAPIError):
                conn.execute(text(statement))
            conn.rollback()
    finally:
        source.close()
    writable = create_engine(demo.urls[database])
    try:
        with writable.connect() as conn:
            tables = demo_metadata(database).tables
            if database == "market":
                table = tables["admin_penalties"]
                assert conn.execute(select(func.count()).select_from(table)).scalar_one() > 0
                assert conn.execute(select(func.count()).where(table.c.notes == "tampered")).scalar() == 0
            else:
                table = tables["credit_ratings"]
                assert conn.execute(select(func.count()).where(table.c.id == 9999)).scalar() == 0
            assert "intruder" not in inspect(conn).get_table_names()
    finally:
        writable.dispose()


@pytest.mark.parametrize(
    "hostile",
    [
        "' OR '1'='1",
        "x'); DROP TABLE admin_penalties; --",
        "91330110MA16HUNJ0P' OR 1=1 --",
        '" OR ""="',
        "\\'; SELECT pg_sleep(5); --",
    ],
)
def test_injection_in_a_subject_returns_nothing(
    registry: SqlSourceRegistry, data: DemoDataset, hostile: str
) -> None:
    market = registry.source("market")
    assert market.fetch(penalties([hostile])) == []
    still = market.fetch(penalties([data.manifest.legal_person.value]))
    assert len(still) == 2  # the table is intact


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"table": "admin_penalties; DROP TABLE enterprises"}, "table"),
        ({"table": "admin penalties"}, "table"),
        ({"subject_column": "uscc = uscc OR 1"}, "subject_column"),
        ({"columns": (("x", "uscc), (SELECT 1"),)}, "column"),
        ({"columns": (('a"b', "uscc"),)}, "field"),
        ({"conditions": (Condition("decided_on; --", "is_null"),)}, "condition column"),
    ],
)
def test_names_that_are_not_plain_identifiers_are_refused(
    registry: SqlSourceRegistry, change: dict[str, Any], what: str
) -> None:
    fields = {
        "database": "market",
        "table": "admin_penalties",
        "subject_column": "uscc",
        "subjects": ("x",),
        "columns": (("uscc", "uscc"),),
        "conditions": (),
    }
    with pytest.raises(SourceError) as caught:
        registry.source("market").fetch(SourceQuery(**{**fields, **change}))
    assert caught.value.field == what


@pytest.mark.parametrize(
    "query",
    [
        SourceQuery("market", "no_such_table", "uscc", ("x",), (("uscc", "uscc"),), ()),
        SourceQuery("market", "enterprises", "uscc", ("x",), (("phone", "mobile"),), ()),
        SourceQuery("market", "enterprises", "uscc", ("x",), (("a", "uscc"), ("a", "name")), ()),
        SourceQuery("market", "enterprises", "uscc", ("x",), (), ()),
        SourceQuery(
            "market", "enterprises", "uscc", ("x",), (("a", "uscc"),), (Condition("status", "like"),)
        ),
        SourceQuery("market", "enterprises", "uscc", ("x",), (("a", "uscc"),), (), limit=0),
        SourceQuery("market", "enterprises", "uscc", ("x",), (("a", "uscc"),), (), limit=10**6),
    ],
    ids=["table", "column", "duplicate-field", "no-columns", "condition-op", "limit-0", "limit-huge"],
)
def test_bad_queries_are_source_errors(registry: SqlSourceRegistry, query: SourceQuery) -> None:
    with pytest.raises(SourceError):
        registry.source("market").fetch(query)


def test_a_database_error_does_not_leak_values(registry: SqlSourceRegistry, demo: DemoDatabases) -> None:
    # Comparing an integer column with a text value: PostgreSQL's error message quotes the value.
    secret = "330102198807045586"
    query = SourceQuery("market", "admin_penalties", "id", (secret,), (("uscc", "uscc"),), ())
    if demo.backend != "postgresql":
        assert registry.source("market").fetch(query) == []  # the others compare and find nothing
        return
    with pytest.raises(SourceError) as caught:
        registry.source("market").fetch(query)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value.extra)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the driver's message is not chained either


def test_unknown_database_is_a_source_error(registry: SqlSourceRegistry) -> None:
    with pytest.raises(SourceError):
        registry.source("police")
    assert registry.databases == ("court", "market", "tax")


def test_columns_are_reflected(registry: SqlSourceRegistry) -> None:
    columns = registry.columns()
    assert set(columns["court"]) == {"dishonest_debtors", "consumption_restrictions"}
    assert {"subject_id", "force_majeure", "removed_on"} <= columns["court"]["dishonest_debtors"]


# --- unreachable and misconfigured sources ---


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/test",
        "mysql+pymysql://root@127.0.0.1:1/test",
    ],
    ids=["postgresql", "mariadb"],
)
def test_a_server_that_is_down_is_a_source_error(url: str) -> None:
    source = SqlSource(url, name="market")
    try:
        with pytest.raises(SourceError) as caught:
            source.fetch(penalties(["91330110MA16HUNJ0P"]))
        assert "market" in caught.value.detail
        assert "91330110MA16HUNJ0P" not in caught.value.detail
        with pytest.raises(SourceError):
            source.ping()
    finally:
        source.close()


def test_a_missing_sqlite_file_is_a_source_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    source = SqlSource(f"sqlite:///{path}")
    with pytest.raises(SourceError):
        source.fetch(penalties(["x"]))
    assert not path.exists()
    source.close()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=rwc", "oracle://scott@db/orcl", "not a url"],
)
def test_unusable_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        SqlSource(url)
