"""The demo departmental databases, built for real in SQLite, PostgreSQL or MariaDB, for one test run.

    with demo_databases("postgresql", server_url=postgres_url) as demo:
        SqlSourceRegistry(demo.urls) ...

PostgreSQL: one schema per database (``gw_test_<random>_<db>``), reached through ``search_path`` in the
URL, dropped afterwards. MariaDB: one database per demo database (``gw_test_<random>_<db>``), dropped
afterwards. SQLite: files under the given directory.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.demo.data import DEFAULT_SEED, DemoManifest, build_demo_databases
from gateway.demo.schema import DEMO_DATABASES

BACKENDS = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class DemoDatabases:
    """Where the demo databases of one backend live, and what they hold."""

    backend: str
    urls: dict[str, str]
    manifest: DemoManifest


def backend_params() -> list[object]:
    """``pytest.param`` for each backend, marked with the server it needs."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ]


@contextmanager
def _postgres(server_url: str, prefix: str) -> Iterator[dict[str, str]]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    schemas = {db: f"{prefix}_{db}" for db in DEMO_DATABASES}
    try:
        with admin.connect() as conn:
            for schema in schemas.values():
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        base = make_url(server_url)
        yield {
            db: base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False
            )
            for db, schema in schemas.items()
        }
    finally:
        with admin.connect() as conn:
            for schema in schemas.values():
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def _mariadb(server_url: str, prefix: str) -> Iterator[dict[str, str]]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    names = {db: f"{prefix}_{db}" for db in DEMO_DATABASES}
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
        base = make_url(server_url)
        yield {
            db: base.set(database=name).render_as_string(hide_password=False) for db, name in names.items()
        }
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@contextmanager
def demo_databases(
    backend: str, *, directory: Path | None = None, server_url: str | None = None, seed: int = DEFAULT_SEED
) -> Iterator[DemoDatabases]:
    """Build the demo databases on ``backend`` and remove them afterwards."""
    prefix = f"gw_test_{secrets.token_hex(4)}"
    if backend == "sqlite":
        assert directory is not None
        directory.mkdir(parents=True, exist_ok=True)
        urls = {db: f"sqlite:///{directory.resolve() / f'{db}.db'}" for db in DEMO_DATABASES}
        yield DemoDatabases(backend, urls, build_demo_databases(urls, seed))
        return
    assert server_url is not None
    make = _postgres if backend == "postgresql" else _mariadb
    with make(server_url, prefix) as urls:
        yield DemoDatabases(backend, urls, build_demo_databases(urls, seed))


@contextmanager
def demo_for(request: pytest.FixtureRequest, backend: str, directory: Path) -> Iterator[DemoDatabases]:
    """``demo_databases`` for a parametrized fixture: asks for the server fixture only when needed."""
    server_url = None
    if backend == "postgresql":
        server_url = request.getfixturevalue("postgres_url")
    elif backend == "mariadb":
        server_url = request.getfixturevalue("mariadb_url")
    with demo_databases(backend, directory=directory, server_url=server_url) as demo:
        yield demo
