"""``gateway db upgrade``: create or migrate the gateway database (ledger and grant store)."""

from __future__ import annotations

from pathlib import Path


def run_db_upgrade(config_file: Path) -> int:
    """Migrate the database the settings file names to the newest schema; print what changed."""
    from gateway.adapters.sql import migrate
    from gateway.adapters.sql.engine import make_engine
    from gateway.settings import load_settings

    engine = make_engine(load_settings(config_file).ledger_url)
    try:
        done = migrate.upgrade(engine)
    finally:
        engine.dispose()
    if done.before == done.after:
        print(f"gateway database already at schema revision {done.after}")
    else:
        print(f"gateway database migrated from {done.before or 'empty'} to schema revision {done.after}")
    return 0


def check_db_for_serving(config_file: Path) -> None:
    """What ``gateway serve`` does before it starts workers: migrate embedded SQLite, check others,
    and refuse a ledger created with another origin than the configured one."""
    from gateway.adapters.sql import migrate
    from gateway.adapters.sql.engine import make_engine
    from gateway.adapters.sql.ledger import require_origin
    from gateway.settings import load_settings

    settings = load_settings(config_file)
    engine = make_engine(settings.ledger_url)
    try:
        migrate.prepare_for_serving(engine)
        require_origin(engine, settings.ledger_origin)
    finally:
        engine.dispose()
