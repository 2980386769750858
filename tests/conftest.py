"""Shared fixtures: real databases, real keys, a fixed clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.adapters.key_files import FileKeyStore

POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("GATEWAY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_SERVERS = os.environ.get("CI") == "true" or os.environ.get("GATEWAY_REQUIRE_SERVERS") == "1"

FIXED_NOW = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that always says the same time (a real Clock, not a mock: time is an input here)."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def keystore(tmp_path: Path) -> FileKeyStore:
    store = FileKeyStore(tmp_path / "keys")
    store.init()
    return store


def _server_url(url: str, marker: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if REQUIRE_SERVERS:
            pytest.fail(f"{marker} server required on CI but unreachable at {url}: {exc}")
        pytest.skip(f"{marker} server not reachable at {url}")
    finally:
        engine.dispose()
    yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _server_url(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    yield from _server_url(MARIADB_URL, "MariaDB")
