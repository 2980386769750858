"""The composition root: builds every adapter and service from Settings, once, in the app's lifespan."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from gateway.adapters.client_files import ClientRegistry
from gateway.adapters.console_users import FileUserDirectory, users_file_beside
from gateway.adapters.desensitizer import CatalogDesensitizer
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.oauth_server import OAuthServer
from gateway.adapters.policy.catalog_files import load_catalog
from gateway.adapters.policy.pool import PooledPolicyEngine
from gateway.adapters.presidio import PresidioScanner
from gateway.adapters.sql import migrate
from gateway.adapters.sql.console_sessions import SqlConsoleSessions
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.grants import SqlGrantStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.lists import SqlListStore
from gateway.adapters.sql.sources import SqlSourceRegistry
from gateway.adapters.tokens import ExternalIssuer, JwtAuthenticator, TokenIssuer
from gateway.api.deps import QueryLimits, Services
from gateway.console.views import ConsoleViews
from gateway.domain.catalog import Catalog
from gateway.domain.desensitize.text_scan import FastScanner
from gateway.errors import ConfigurationError
from gateway.logging import configure_logging
from gateway.ports import Clock, PolicyEngine, TextScanner
from gateway.services.audit import AuditService
from gateway.services.console_auth import ConsoleAuth
from gateway.services.disclosure import DisclosureService
from gateway.services.grants import GrantService
from gateway.services.lists import ListService
from gateway.services.query import DECISION_ENTRYPOINT, QueryService
from gateway.settings import Settings, load_settings

log = logging.getLogger("gateway")


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Components:
    """Everything the app serves with; the routes reach it through ``services``."""

    settings: Settings
    catalog: Catalog
    engine: PolicyEngine
    queries: QueryService
    grants: GrantService
    audit: AuditService
    authorization_server: OAuthServer
    authenticator: JwtAuthenticator
    closers: list[Callable[[], None]] = field(default_factory=list)
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    console_auth: ConsoleAuth | None = None
    console_views: ConsoleViews | None = None
    lists: ListService | None = None
    disclosure: DisclosureService | None = None

    @property
    def services(self) -> Services:
        """What the routes' dependencies hand out."""
        return Services(
            catalog=self.catalog,
            queries=self.queries,
            grants=self.grants,
            audit=self.audit,
            authenticator=self.authenticator,
            authorization_server=self.authorization_server,
            readiness=self.readiness,
            limits=QueryLimits(max_subjects=self.settings.max_subjects),
            lists=self.lists,
            disclosure=self.disclosure,
            console_auth=self.console_auth,
            console_views=self.console_views,
        )

    def readiness(self) -> dict[str, bool]:
        """Run each readiness check; a check that raises is simply not ready."""
        out: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                out[name] = bool(check())
            except Exception:
                out[name] = False
        return out

    def close(self) -> None:
        """Release pools, threads and clients, in reverse order of creation."""
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:
                log.warning("error while closing a component")


def policy_threads() -> int:
    """Threads (each with its own embedded engine) per worker process: the cores shared by the workers.

    ``gateway serve`` sets ``GATEWAY_WORKERS`` and ``GATEWAY_CORES`` (which counts a container's CPU
    quota); regorus holds the GIL while it evaluates, so more threads than this would only take turns.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no sched_getaffinity on macOS and Windows
        cores = os.cpu_count() or 1
    try:
        cores = max(1, int(os.environ.get("GATEWAY_CORES", cores)))
        workers = max(1, int(os.environ.get("GATEWAY_WORKERS", "1")))
    except ValueError:
        workers = 1
    return max(1, cores // workers)


def build_engine(settings: Settings) -> PolicyEngine:
    """The policy engine the settings choose: embedded regorus on a few warm threads, or an OPA server."""
    from gateway.adapters.policy.regorus import RegorusEngine, load_policy_sources

    if settings.policy_engine == "regorus":
        return PooledPolicyEngine(
            RegorusEngine(settings.policies_dir),
            policy_threads(),
            warm=lambda engine: engine.evaluate(DECISION_ENTRYPOINT, {}),
        )
    from gateway.adapters.policy.opa import OpaEngine

    assert settings.opa_url is not None  # noqa: S101 - Settings validates this
    # The OPA server must run the same policy files; their digest is the revision we record.
    revision = load_policy_sources(settings.policies_dir).revision
    return OpaEngine(settings.opa_url, revision, settings.opa_timeout_s)


def build_components(settings: Settings, clock: Clock | None = None) -> Components:
    """Build every adapter and service; raise ConfigurationError if anything is missing."""
    clock = clock or SystemClock()
    closers: list[Callable[[], None]] = []
    keystore = FileKeyStore(settings.keys_dir)
    catalog = load_catalog(settings.policies_dir)
    engine = build_engine(settings)
    if isinstance(engine, PooledPolicyEngine):
        closers.append(engine.close)
    sources = SqlSourceRegistry(settings.sources)
    closers.append(sources.close)
    database = make_engine(settings.ledger_url)
    closers.append(database.dispose)
    migrate.prepare_for_serving(database)
    ledger = SqlLedger(
        settings.ledger_url, keystore, origin=settings.ledger_origin, clock=clock, engine=database
    )
    closers.append(ledger.close)
    grant_store = SqlGrantStore(settings.ledger_url, engine=database)
    grants = GrantService(store=grant_store, engine=engine, ledger=ledger, keystore=keystore, clock=clock)
    # Both scanners use the same recognizer rules and find the same entities (asserted in
    # bench/desensitize_bench.py); the fast one skips Presidio's per-call overhead on the hot path.
    scanner: TextScanner = PresidioScanner() if settings.text_scanner == "presidio" else FastScanner()
    desensitizer = CatalogDesensitizer(keystore, scanner, clock, algorithm=settings.encryption_algorithm)
    list_store = SqlListStore(settings.ledger_url, engine=database)
    lists = ListService(
        catalog=catalog, store=list_store, engine=engine, ledger=ledger, commit=grants.commitment, clock=clock
    )

    queries = QueryService(
        catalog=catalog,
        engine=engine,
        sources=sources,
        desensitizer=desensitizer,
        ledger=ledger,
        commit=grants.commitment,  # the one subject commitment, as grants record it
        clock=clock,
        grants=grants,
        max_rows_per_item=settings.max_rows_per_item,
        lists=list_store,  # the subjects' current lists, read for every query (clauses (9)(10))
    )
    audit = AuditService(ledger, keystore.secret("commitment"))
    registry = ClientRegistry.from_file(settings.clients_file)
    issuer = TokenIssuer(
        keystore,
        issuer=settings.issuer,
        audience=settings.audience,
        clock=clock,
        lifetime_s=settings.token_lifetime_s,
    )
    authenticator = JwtAuthenticator(
        keystore,
        issuer=settings.issuer,
        audience=settings.audience,
        clock=clock,
        external=[
            ExternalIssuer(e.issuer, e.audience, jwks_url=e.jwks_url, department_claim=e.department_claim)
            for e in settings.external_issuers
        ],
    )
    closers.append(authenticator.close)
    # Fail at startup, not on the first request, if a key the request path needs is missing.
    for secret in ("commitment", "pseudonym", "encryption"):
        keystore.secret(secret)
    keystore.private_key_pem("token")
    keystore.private_key_pem("ledger")
    checks: dict[str, Callable[[], bool]] = {
        # An empty query must come back as a well-formed refusal: the engine loads and answers.
        "policy_engine": lambda: isinstance(engine.evaluate(DECISION_ENTRYPOINT, {}), dict),
        # False when the head holds entries no signed checkpoint covers (written without the key).
        "ledger": ledger.covered,
    }
    # Console users sit beside the clients file; sessions share the ledger's database with every worker.
    console_sessions = SqlConsoleSessions(settings.ledger_url)
    closers.append(console_sessions.close)
    console_auth = ConsoleAuth(
        FileUserDirectory(users_file_beside(settings.clients_file)), console_sessions, ledger, clock
    )
    return Components(
        settings=settings,
        catalog=catalog,
        engine=engine,
        queries=queries,
        grants=grants,
        audit=audit,
        authorization_server=OAuthServer(registry, issuer),
        authenticator=authenticator,
        closers=closers,
        checks=checks,
        console_auth=console_auth,
        console_views=ConsoleViews(audit),
        lists=lists,
        disclosure=DisclosureService(
            catalog=catalog,
            engine=engine,
            sources=sources,
            desensitizer=desensitizer,
            ledger=ledger,
            commit=grants.commitment,
            clock=clock,
        ),
    )


def create_gateway_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """The app for ``settings``; components are built when it starts serving."""
    from gateway.api.app import create_app
    from gateway.console.web import install_console

    configure_logging(settings.log_level)
    app = create_app(lambda: build_components(settings, clock))
    install_console(app)
    return app


def app_from_environment() -> FastAPI:
    """uvicorn factory: settings from the file named by ``GATEWAY_CONFIG_FILE`` (set by the CLI)."""
    config = os.environ.get("GATEWAY_CONFIG_FILE")
    if not config:
        raise ConfigurationError("GATEWAY_CONFIG_FILE is not set", accepted="a path to a settings YAML file")
    return create_gateway_app(load_settings(Path(config)))
