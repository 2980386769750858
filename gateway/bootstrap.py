"""The composition root: builds every adapter and service from Settings, once, in the app's lifespan."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from gateway.adapters.client_files import ReloadingClientRegistry, SecretHashingPool
from gateway.adapters.console_users import FileUserDirectory, users_file_beside
from gateway.adapters.crypto.handover import FieldKeyHandover
from gateway.adapters.desensitizer import CatalogDesensitizer
from gateway.adapters.key_files import FileKeyStore
from gateway.adapters.metrics import LabelVocabulary, PrometheusMetrics, policy_reason_codes
from gateway.adapters.oauth_server import OAuthServer
from gateway.adapters.policy.catalog_files import load_catalog
from gateway.adapters.policy.hot import BundleWatcher
from gateway.adapters.policy.opa_bundle import OPA_BUNDLE_KEY, RevisionCheckedEngine, build_bundle
from gateway.adapters.policy.pool import PooledPolicyEngine
from gateway.adapters.policy.workbench import PolicyWorkbenchLab, read_bundle
from gateway.adapters.presidio import PresidioScanner
from gateway.adapters.sql import migrate
from gateway.adapters.sql.console_sessions import SqlConsoleSessions
from gateway.adapters.sql.engine import make_engine
from gateway.adapters.sql.grant_changes import SqlGrantChanges
from gateway.adapters.sql.grants import SqlGrantStore
from gateway.adapters.sql.ledger import SqlLedger
from gateway.adapters.sql.lists import SqlListStore
from gateway.adapters.sql.observation import SqlLedgerObservation
from gateway.adapters.sql.policy_bundles import SqlPolicyStore
from gateway.adapters.sql.repairs import SqlRepairStore
from gateway.adapters.sql.sources import SqlSource, SqlSourceRegistry
from gateway.adapters.sql.token_throttle import SqlThrottleStore
from gateway.adapters.sql.witnesses import SqlCosignatures
from gateway.adapters.token_throttle import ThrottlePolicies, TokenThrottle
from gateway.adapters.tokens import ExternalIssuer, JwtAuthenticator, TokenIssuer
from gateway.adapters.webhooks import HttpWebhookSender
from gateway.api.deps import QueryLimits, Services
from gateway.console.views import ConsoleViews
from gateway.domain.catalog import Catalog
from gateway.domain.desensitize.text_scan import FastScanner
from gateway.domain.policy_bundle import files_digest
from gateway.domain.throttle import LockoutPolicy
from gateway.errors import ConfigurationError, GatewayError, error_classes
from gateway.logging import configure_logging
from gateway.ports import (
    CheckpointSource,
    Clock,
    CosignatureStore,
    Metrics,
    PolicyEngine,
    RepairObservation,
    TextScanner,
    WitnessClient,
)
from gateway.services.audit import AuditService
from gateway.services.console_auth import ConsoleAuth
from gateway.services.disclosure import DisclosureService
from gateway.services.grants import GrantService
from gateway.services.key_handover import KeyHandoverService
from gateway.services.lists import ListService
from gateway.services.notifications import DeliveryPolicy, DeliveryWorker, NotificationService
from gateway.services.policy_workbench import PolicyWorkbench
from gateway.services.query import DECISION_ENTRYPOINT, QueryService
from gateway.services.refusals import RefusalRegistry
from gateway.services.repairs import RepairService
from gateway.services.witnessing import WitnessSubmitter
from gateway.settings import Settings, load_settings

log = logging.getLogger("gateway")
# Set by ``gateway serve`` for its workers: the port of the /metrics listener.
METRICS_PORT_ENV = "GATEWAY_METRICS_PORT"


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
    metrics: Metrics
    closers: list[Callable[[], None]] = field(default_factory=list)
    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    console_auth: ConsoleAuth | None = None
    console_views: ConsoleViews | None = None
    refusals: RefusalRegistry | None = None
    key_handover: KeyHandoverService | None = None
    workbench: PolicyWorkbench | None = None
    repairs: RepairService | None = None
    notifications: NotificationService | None = None
    # What the witnesses cosigned (``latest_cosignature_at`` feeds the cosignature-age metric).
    cosignatures: CosignatureStore | None = None
    witnessing: WitnessSubmitter | None = None
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
            refusals=self.refusals,
            key_handover=self.key_handover,
            metrics=self.metrics,
            workbench=self.workbench,
            repairs=self.repairs,
            notifications=self.notifications,
        )

    def readiness(self) -> dict[str, str | None]:
        """Run each readiness check: None when it passes, else the stable code of what failed.

        Only codes: an exception's message can quote a connection string or a value.
        """
        out: dict[str, str | None] = {}
        for name, check in self.checks.items():
            try:
                out[name] = None if check() else "unavailable"
            except GatewayError as exc:
                out[name] = exc.code
            except Exception:
                out[name] = "unavailable"
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
    # The revision recorded is the active bundle's, and only while OPA reports it loaded that one.
    # The catalog index the gateway derives is sent to the server (its digest is in the revision).
    sources = load_policy_sources(settings.policies_dir)
    return RevisionCheckedEngine(
        OpaEngine(settings.opa_url, sources.revision, settings.opa_timeout_s, index=sources.index)
    )


def _bundle_watcher(store: SqlPolicyStore, pool: PooledPolicyEngine, queries: QueryService) -> BundleWatcher:
    def with_catalog(root: Path) -> Callable[[], None]:
        catalog = load_catalog(root)  # a catalog that does not load stops the switch

        def commit() -> None:
            queries.catalog = catalog

        return commit

    return BundleWatcher(store, pool, on_swap=with_catalog)


def throttle_policies(settings: Settings) -> ThrottlePolicies:
    """The token endpoint's lockout policies from the settings."""
    t = settings.token_throttle

    def policy(after: int) -> LockoutPolicy:
        return LockoutPolicy(
            after=after,
            base_s=t.lockout_base_s,
            factor=t.lockout_factor,
            max_s=max(t.lockout_max_s, t.lockout_base_s),
            window_s=t.window_s,
        )

    return ThrottlePolicies(client=policy(t.client_after), address=policy(t.address_after))


def _pinging(source: SqlSource) -> Callable[[], bool]:
    def check() -> bool:
        source.ping()  # SourceError (source_unavailable) when it does not answer
        return True

    return check


def build_metrics(
    settings: Settings,
    catalog: Catalog,
    registry: ReloadingClientRegistry,
    engine: PolicyEngine,
    ledger: SqlLedgerObservation,
    repairs: RepairObservation,
) -> PrometheusMetrics:
    """Metrics whose labels may only take the catalog's, the clients file's and the policies' codes."""
    vocabulary = LabelVocabulary(
        departments=frozenset(catalog.departments) | registry.current().departments,
        purposes=frozenset(catalog.purposes),
        reasons=policy_reason_codes(settings.policies_dir) | {cls.code for cls in error_classes()},
    )
    return PrometheusMetrics(vocabulary, revision=lambda: engine.revision, ledger=ledger, repairs=repairs)


def build_components(settings: Settings, clock: Clock | None = None) -> Components:
    """Build every adapter and service; raise ConfigurationError if anything is missing."""
    clock = clock or SystemClock()
    closers: list[Callable[[], None]] = []
    keystore = FileKeyStore(settings.keys_dir)
    catalog = load_catalog(settings.policies_dir)
    engine = build_engine(settings)
    if isinstance(engine, PooledPolicyEngine):
        closers.append(engine.close)
    sources = SqlSourceRegistry(settings.sources, statement_timeout_s=settings.source_statement_timeout_s)
    closers.append(sources.close)
    database = make_engine(settings.ledger_url)
    closers.append(database.dispose)
    migrate.prepare_for_serving(database)
    ledger = SqlLedger(
        settings.ledger_url, keystore, origin=settings.ledger_origin, clock=clock, engine=database
    )
    closers.append(ledger.close)
    grant_store = SqlGrantStore(settings.ledger_url, engine=database)
    # One database for both: each grant change is one transaction with its ledger entry.
    grants = GrantService(
        store=grant_store,
        engine=engine,
        ledger=ledger,
        keystore=keystore,
        clock=clock,
        changes=SqlGrantChanges(ledger, grant_store),
    )
    try:
        grants.reconcile(ledger)  # what a crash of a gateway from before left half done
    except GatewayError as exc:
        # A ledger that refuses appends still opens (its reads are evidence; readiness says so).
        log.error("grant reconciliation failed", extra={"error_type": type(exc).__name__})
    # Both scanners use the same recognizer rules and find the same entities (asserted in
    # bench/desensitize_bench.py); the fast one skips Presidio's per-call overhead on the hot path.
    scanner: TextScanner = PresidioScanner() if settings.text_scanner == "presidio" else FastScanner()
    desensitizer = CatalogDesensitizer(keystore, scanner, clock, algorithm=settings.encryption_algorithm)
    # Credit repair shares the gateway database with every worker and replica: a repair read on one
    # is read on all, on the very next query. The outbox worker runs in every serving process.
    list_store = SqlListStore(settings.ledger_url, engine=database)
    lists = ListService(
        catalog=catalog, store=list_store, engine=engine, ledger=ledger, commit=grants.commitment, clock=clock
    )
    repair_store = SqlRepairStore(settings.ledger_url, engine=database)
    repairs = RepairService(
        catalog=catalog,
        store=repair_store,
        ledger=ledger,
        keystore=keystore,
        clock=clock,
        entries=ledger,
        settle_s=settings.repair_settle_s,
        listings=lists,  # a repaired subject leaves the lists of the repaired item at once (clause (11))
    )
    webhook_sender = HttpWebhookSender()
    closers.append(webhook_sender.close)
    notifications = NotificationService(
        catalog=catalog,
        store=repair_store,
        ledger=ledger,
        search=ledger,
        sender=webhook_sender,
        repairs=repairs,
        keystore=keystore,
        clock=clock,
        policy=DeliveryPolicy(
            retry_base_s=settings.notification_retry_base_s,
            retry_max_s=settings.notification_retry_max_s,
            poll_s=settings.notification_poll_s,
        ),
    )
    worker = DeliveryWorker(notifications)
    worker.start()
    closers.append(worker.stop)

    registry = ReloadingClientRegistry(settings.clients_file)
    metrics = build_metrics(settings, catalog, registry, engine, SqlLedgerObservation(database), repairs)
    policy_store = SqlPolicyStore(settings.ledger_url, engine=database)
    workbench = PolicyWorkbench(
        store=policy_store,
        inputs=policy_store,
        lab=PolicyWorkbenchLab(),
        ledger=ledger,
        clock=clock,
        # ES256 (P-256): OPA verifies bundle signatures with RS/PS/ES/HS algorithms, not Ed25519.
        bundler=lambda files, revision: build_bundle(
            files, revision, keystore.private_key_pem(OPA_BUNDLE_KEY), OPA_BUNDLE_KEY
        ),
    )
    # The first start stores the deployed files as the base bundle; later starts serve the active one,
    # even when the deployed files changed since: those go live only as an approved draft.
    deployed = read_bundle(settings.policies_dir)
    workbench.ensure_base(deployed)
    if files_digest(deployed) != workbench.active_bundle().content_digest:
        log.warning("the deployed policies differ from the active bundle, which keeps serving")
    queries = QueryService(
        catalog=catalog,
        engine=engine,
        sources=sources,
        desensitizer=desensitizer,
        ledger=ledger,
        commit=grants.commitment,  # the one subject commitment, as grants record it
        clock=clock,
        metrics=metrics,
        grants=grants,
        max_rows_per_item=settings.max_rows_per_item,
        inputs=policy_store,
        repairs=repairs,
        lists=list_store,  # the subjects' current lists, read for every query (clauses (9)(10))
    )
    if isinstance(engine, PooledPolicyEngine):
        watcher = _bundle_watcher(policy_store, engine, queries)
        watcher.check()  # a worker (re)started after an activation serves the active bundle at once
        watcher.start()
        closers.append(watcher.stop)
    elif isinstance(engine, RevisionCheckedEngine):
        engine.start(policy_store)
        closers.append(engine.stop)
    audit = AuditService(ledger, keystore.secret("commitment"))
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
        # A missing table or a lost database answers as an error, not as "no such grant".
        "grant_store": lambda: grant_store.get("readiness-probe") is None,
    }
    for source_id in sources.databases:
        checks[f"source:{source_id}"] = _pinging(sources.source(source_id))
    # Console users sit beside the clients file; sessions share the ledger's database with every worker.
    console_sessions = SqlConsoleSessions(settings.ledger_url, engine=database)
    closers.append(console_sessions.close)
    console_auth = ConsoleAuth(
        FileUserDirectory(users_file_beside(settings.clients_file)), console_sessions, ledger, clock
    )
    throttle_settings = settings.token_throttle
    hashing = SecretHashingPool(throttle_settings.hash_workers, throttle_settings.hash_queue)
    closers.append(hashing.close)
    authorization_server = OAuthServer(
        registry,
        issuer,
        throttle=TokenThrottle(SqlThrottleStore(database), clock, metrics, throttle_policies(settings)),
        hashing=hashing,
    )
    cosignatures = SqlCosignatures(database)
    witnessing = build_witnessing(settings, ledger, cosignatures)
    closers.append(witnessing.close)
    witnessing.start()  # in the background: a witness that is down never holds up a query
    return Components(
        settings=settings,
        catalog=catalog,
        engine=engine,
        queries=queries,
        grants=grants,
        audit=audit,
        authorization_server=authorization_server,
        authenticator=authenticator,
        metrics=metrics,
        closers=closers,
        checks=checks,
        console_auth=console_auth,
        console_views=ConsoleViews(audit),
        refusals=RefusalRegistry(ledger),
        key_handover=KeyHandoverService(FieldKeyHandover(keystore, settings.encryption_algorithm), ledger),
        workbench=workbench,
        repairs=repairs,
        notifications=notifications,
        cosignatures=cosignatures,
        witnessing=witnessing,
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


def build_witnessing(
    settings: Settings, ledger: CheckpointSource, cosignatures: CosignatureStore
) -> WitnessSubmitter:
    """The submitter of the ledger's checkpoints to the configured witnesses (none: it does nothing)."""
    from gateway.adapters.crypto.ed25519 import ed25519_verify
    from gateway.adapters.witness_client import HttpWitness
    from gateway.domain.transparency.witness import parse_vkey

    clients: list[WitnessClient] = []
    for entry in settings.witnesses:
        try:
            name, public_key = parse_vkey(entry.vkey)
        except ValueError as exc:
            raise ConfigurationError(f"witness {entry.url}: {exc}", field="witnesses") from exc
        clients.append(HttpWitness(entry.url, name, public_key))
    return WitnessSubmitter(
        ledger, clients, cosignatures, ed25519_verify, interval_s=settings.witness_interval_s
    )


def create_gateway_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """The app for ``settings``; components are built when it starts serving."""
    from gateway.api.app import create_app
    from gateway.api.metrics import MetricsMiddleware
    from gateway.console.web import install_console

    configure_logging(settings.log_level)
    app = create_app(lambda: build_components(settings, clock), max_body_bytes=settings.max_body_bytes)
    install_console(app)
    # Outermost, so every response is counted, the console's and the refusals' included.
    app.add_middleware(MetricsMiddleware, metrics_port=metrics_port_from_environment())
    return app


def metrics_port_from_environment() -> int | None:
    """The port ``gateway serve --metrics-port`` serves /metrics on (``GATEWAY_METRICS_PORT``), if any."""
    value = os.environ.get(METRICS_PORT_ENV)
    try:
        return int(value) if value else None
    except ValueError:
        raise ConfigurationError(f"{METRICS_PORT_ENV} is not a port number", accepted="1-65535") from None


def app_from_environment() -> FastAPI:
    """uvicorn factory: settings from the file named by ``GATEWAY_CONFIG_FILE`` (set by the CLI)."""
    config = os.environ.get("GATEWAY_CONFIG_FILE")
    if not config:
        raise ConfigurationError("GATEWAY_CONFIG_FILE is not set", accepted="a path to a settings YAML file")
    return create_gateway_app(load_settings(Path(config)))
