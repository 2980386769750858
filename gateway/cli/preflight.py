"""What ``gateway serve`` checks once, before any worker starts: everything a worker needs at startup.

A worker that fails in its lifespan prints uvicorn's traceback and dies, once per worker. Checked
here first, each failure is one line on stderr saying what is missing or wrong and the command that
fixes it, and ``gateway serve`` exits with status 2 (shown here on two lines):

    gateway cannot start: secret 'commitment' is missing or unreadable [key_unavailable]; fix: \
    gateway keys init --dir /srv/gw/keys

The checks follow the order of the composition root: settings, keys, policies and catalog, clients,
sources, then the gateway database (an embedded SQLite one is migrated here, any other must be
migrated already) and its ledger origin.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from gateway.errors import GatewayError, GrantStoreError, LedgerError

KEY_SECRETS = ("commitment", "pseudonym", "encryption")
KEY_PAIRS = ("token", "ledger")


@dataclass(frozen=True, slots=True)
class StartupFailure(Exception):
    """A check ``gateway serve`` runs before it starts workers failed."""

    what: str
    code: str
    fix: str

    def line(self) -> str:
        """The one line printed on stderr."""
        return f"gateway cannot start: {self.what} [{self.code}]; fix: {self.fix}"


def _one_line(text: str) -> str:
    # pydantic's messages span lines ("1 validation error for Settings\nfield\n  Input ..."): keep
    # them on one, and drop pydantic's documentation links.
    text = re.sub(r"\s*For further information visit \S+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _check(
    fix: str,
    step: Callable[[], object],
    by_field: dict[str, str] | None = None,
    unreachable: str | None = None,
) -> None:
    try:
        step()
    except GatewayError as exc:
        fix = (by_field or {}).get(exc.field or "", fix)
        if unreachable is not None and isinstance(exc, (LedgerError, GrantStoreError)):
            fix = unreachable
        raise StartupFailure(_one_line(exc.detail), exc.problem_code, fix) from None
    except (OSError, ValueError) as exc:
        raise StartupFailure(_one_line(str(exc)) or type(exc).__name__, "configuration_error", fix) from None


def preflight(config_file: Path) -> None:
    """Raise StartupFailure (one line, with its fix) for the first thing a worker would fail on."""
    from gateway.adapters.client_files import ClientRegistry
    from gateway.adapters.key_files import FileKeyStore
    from gateway.adapters.policy.catalog_files import load_catalog
    from gateway.adapters.policy.regorus import load_policy_sources
    from gateway.adapters.sql.sources import SqlSourceRegistry
    from gateway.cli.db import check_db_for_serving
    from gateway.settings import Settings, load_settings

    config = _q(config_file)
    if not config_file.is_file():
        raise StartupFailure(
            f"configuration file {config_file} does not exist",
            "configuration_error",
            "gateway demo --no-serve --dir DIR writes a working one to start from (DIR/gateway.yaml)",
        )
    loaded: list[Settings] = []
    _check(
        f"correct {config} (its keys are in the configuration table of README.md)",
        lambda: loaded.append(load_settings(config_file)),
    )
    settings = loaded[0]
    keys = FileKeyStore(settings.keys_dir)
    keys_fix = f"gateway keys init --dir {_q(settings.keys_dir)}"
    for name in KEY_SECRETS:
        _check(keys_fix, partial(keys.secret, name))
    for name in KEY_PAIRS:
        _check(keys_fix, partial(keys.private_key_pem, name))
    policies = _q(settings.policies_dir)
    _check(f"gateway policy test --policies {policies}", lambda: load_policy_sources(settings.policies_dir))
    _check(f"gateway catalog check --policies {policies}", lambda: load_catalog(settings.policies_dir))
    _check(
        f"write {_q(settings.clients_file)} (client secrets hashed with `gateway clients hash-secret`)",
        lambda: ClientRegistry.from_file(settings.clients_file),
    )
    _check(f"correct the sources in {config}", lambda: SqlSourceRegistry(settings.sources).close())
    _check(
        f"gateway db upgrade --config {config}",
        lambda: check_db_for_serving(config_file),
        {"ledger_origin": f"set ledger_origin in {config} to the ledger's own origin (named above)"},
        unreachable=f"start the database named by ledger_url in {config}, or correct that URL",
    )
