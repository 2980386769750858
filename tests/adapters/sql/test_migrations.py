"""Alembic migrations of the gateway database, from empty, on real SQLite files and PostgreSQL schemas."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import make_engine, schema_of
from gateway.adapters.sql.grants import SqlGrantStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.schema import metadata
from gateway.cli.main import main as cli_main
from gateway.errors import ConfigurationError
from tests.conftest import FixedClock
from tests.support.ledger import ORIGIN, ledger_target


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty gateway database of each kind."""
    pg = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with ledger_target(request.param, tmp_path, pg) as (url, schema):
        engine = make_engine(url, schema=schema)
        yield engine
        engine.dispose()


def schema_differences(engine: sa.Engine) -> list[object]:
    """What alembic's autogenerate would change to make the database equal the MetaData."""
    with engine.connect() as conn:
        schema = schema_of(engine)
        if schema is not None:
            # Reflection looks in the search path; the engine's tables are translated to the schema.
            conn.exec_driver_sql(f'SET search_path TO "{schema}"')
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def test_migrations_from_empty_build_exactly_the_metadata(engine: sa.Engine) -> None:
    assert migrate.current_revision(engine) is None
    done = migrate.upgrade(engine)
    assert done == migrate.Upgrade(None, migrate.head_revision())
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names(schema=schema_of(engine)))
    assert tables == set(metadata.tables) | {migrate.VERSION_TABLE}


def test_a_second_upgrade_changes_nothing(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.upgrade(engine) == migrate.Upgrade(migrate.head_revision(), migrate.head_revision())
    assert schema_differences(engine) == []


def test_the_comparison_sees_a_drifted_schema(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX " + ("" if schema_of(engine) is None else f'"{schema_of(engine)}".')
                             + "ix_ledger_entries_purpose"))  # fmt: skip
    assert schema_differences(engine) != []


def test_stores_refuse_an_unmigrated_database_naming_the_command(
    engine: sa.Engine, keystore: FileKeyStore, clock: FixedClock
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SqlLedger(str(engine.url), keystore, ORIGIN, clock, engine=engine)
    assert "gateway db upgrade" in caught.value.detail
    with pytest.raises(ConfigurationError) as caught:
        SqlGrantStore(str(engine.url), engine=engine)
    assert "gateway db upgrade" in caught.value.detail
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names(schema=schema_of(engine)) == []  # nothing created


def test_a_database_of_a_newer_gateway_is_refused(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(migrate._version).values(version_num="9999"))
    with pytest.raises(ConfigurationError) as caught:
        migrate.require_current(engine)
    assert "9999" in caught.value.detail
    assert "newer" in caught.value.detail


def test_a_database_created_before_migrations_is_stamped_and_kept(
    engine: sa.Engine, keystore: FileKeyStore, clock: FixedClock
) -> None:
    migrate.upgrade(engine, migrate.BASELINE)  # the tables the gateway created before it had migrations
    with engine.begin() as conn:
        migrate._version.drop(conn)
    assert migrate.current_revision(engine) == migrate.BASELINE
    assert migrate.upgrade(engine).before == migrate.BASELINE
    assert migrate.current_revision(engine) == migrate.head_revision()
    ledger = SqlLedger(str(engine.url), keystore, ORIGIN, clock, engine=engine)
    try:
        assert ledger.checkpoint().size == 0
    finally:
        ledger.close()


def test_processes_starting_together_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    results: list[migrate.Upgrade] = []
    errors: list[BaseException] = []

    def start() -> None:
        engine = make_engine(url)
        try:
            results.append(migrate.upgrade(engine))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.before is None for r in results) == [False, False, False, True]


# --- the commands ---


def settings_file(tmp_path: Path, ledger_url: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"ledger_url": ledger_url}))
    return path


def test_db_upgrade_command_creates_then_reports_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = settings_file(tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")
    assert cli_main(["db", "upgrade", "--config", str(config)]) == 0
    assert f"to schema revision {migrate.head_revision()}" in capsys.readouterr().out
    assert cli_main(["db", "upgrade", "--config", str(config)]) == 0
    assert "already at schema revision" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_postgres_database_in_one_line(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with ledger_target("postgres", tmp_path, postgres_url) as (url, schema):
        schema_url = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        config = settings_file(tmp_path, schema_url.render_as_string(hide_password=False))
        assert cli_main(["serve", "--config", str(config), "--port", "0"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "has no gateway schema" in err
        assert "gateway db upgrade --config FILE" in err
        # The embedded default is migrated by the command itself; production needs it said.
        assert cli_main(["db", "upgrade", "--config", str(config)]) == 0
        engine = make_engine(url, schema=schema)
        try:
            assert migrate.current_revision(engine) == migrate.head_revision()
        finally:
            engine.dispose()


def test_console_tables_the_console_created_itself_are_kept_by_the_upgrade(engine: sa.Engine) -> None:
    # Before 0004_console the console created its tables on first use: such a database, with a live
    # session in it, upgrades without failing and without losing the session.
    from gateway.adapters.sql.schema import console_accounts, console_sessions

    migrate.upgrade(engine, "0002")
    old = sa.MetaData()
    for table in (console_sessions, console_accounts):
        table.to_metadata(old)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            console_sessions.insert().values(
                token_hash="ab" * 32,
                username="auditor",
                stage="full",
                created_at=1,
                last_seen=1,
                revoked=False,
            )
        )
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(console_sessions.c.username)).scalars().all() == ["auditor"]


def test_the_console_refuses_a_database_without_its_tables(engine: sa.Engine) -> None:
    from gateway.adapters.sql.console_sessions import SqlConsoleSessions

    migrate.upgrade(engine, "0002")
    with pytest.raises(ConfigurationError) as caught:
        SqlConsoleSessions(str(engine.url), engine=engine)
    assert "gateway db upgrade" in caught.value.detail
