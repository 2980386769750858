"""The ``gateway`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_POLICIES = Path("policies")
WORKERS_HELP = "worker processes (default: one per core)"
METRICS_HELP = "serve Prometheus /metrics on this port only (none by default; the chart uses 9464)"


def _policies_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if DEFAULT_POLICIES.is_dir():
        return DEFAULT_POLICIES
    return Path(__file__).resolve().parents[2] / "policies"


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo.setup import prepare_demo, print_welcome

    demo = prepare_demo(Path(args.dir), _policies_dir(args.policies), host=args.host, port=args.port)
    print_welcome(demo)
    if args.no_serve:
        return 0
    return _serve(demo.config_file, args.host, args.port, args.workers, args.metrics_port)


def cmd_serve(args: argparse.Namespace) -> int:
    return _serve(Path(args.config), args.host, args.port, args.workers, args.metrics_port)


def _serve(config_file: Path, host: str, port: int, workers: int | None, metrics_port: int | None) -> int:
    from gateway.cli.preflight import StartupFailure, preflight
    from gateway.cli.serve import serve_gateway

    # Once, before any worker starts: whatever is missing is one line here (with the command that
    # fixes it), not a traceback per worker.
    try:
        preflight(config_file)
    except StartupFailure as failure:
        print(failure.line(), file=sys.stderr)
        return 2
    return serve_gateway(config_file, host, port, workers, metrics_port)


def cmd_openapi(args: argparse.Namespace) -> int:
    from gateway.api.app import create_app

    app = create_app()
    print(json.dumps(app.openapi(), indent=2, ensure_ascii=False))
    return 0


def cmd_catalog_check(args: argparse.Namespace) -> int:
    from gateway.cli.catalog_check import run_catalog_check

    urls: dict[str, str] | None = None
    if args.config:
        from gateway.settings import load_settings

        urls = load_settings(Path(args.config)).sources or None
    problems = run_catalog_check(_policies_dir(args.policies), urls)
    for p in problems:
        print(f"{p.file}: {p.path}: {p.message}")
    print(f"{len(problems)} problem(s)" if problems else "catalog OK")
    if urls and not problems:
        from gateway.cli.catalog_check import count_unaccepted_basis

        for database, items in count_unaccepted_basis(_policies_dir(args.policies), urls).items():
            for item, count in items.items():
                print(
                    f"source {database}: {item}: {count} record(s) with a missing or unaccepted basis "
                    "document, never shared (clause (2))"
                )
    return 1 if problems else 0


def cmd_policy_test(args: argparse.Namespace) -> int:
    from gateway.adapters.policy.rego_tests import run_policy_tests

    report = run_policy_tests(_policies_dir(args.policies))
    for result in report.results:
        mark = "PASS" if result.passed else "FAIL"
        line = f"{mark} {result.package}.{result.name}"
        if result.error:
            line += f"  ({result.error})"
        print(line)
    failed = sum(1 for r in report.results if not r.passed)
    print(f"{len(report.results) - failed} passed, {failed} failed")
    return 1 if failed or not report.results else 0


def cmd_keys_init(args: argparse.Namespace) -> int:
    from gateway.adapters.key_files import FileKeyStore

    created = FileKeyStore(Path(args.dir)).init()
    for name in created:
        print(f"created {Path(args.dir) / name}")
    if not created:
        print("all keys present; nothing created")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from gateway.adapters.key_files import FileKeyStore

    FileKeyStore(_keys_dir(args)).rotate(args.name)
    print(
        f"rotated {args.name}; running gateways sign with the new key within seconds; "
        "the previous public key is kept for verification"
    )
    return 0


def _keys_dir(args: argparse.Namespace) -> Path:
    from gateway.settings import load_settings

    if getattr(args, "config", None):
        return load_settings(Path(args.config)).keys_dir
    return Path(args.dir)


def cmd_keys_retire(args: argparse.Namespace) -> int:
    from gateway.adapters.key_files import FileKeyStore
    from gateway.adapters.tokens import DEFAULT_LEEWAY_S
    from gateway.settings import load_settings

    lifetime = load_settings(Path(args.config)).token_lifetime_s if args.config else args.token_lifetime
    removed = FileKeyStore(_keys_dir(args)).retire(args.name, valid_for_s=lifetime + DEFAULT_LEEWAY_S)
    for path in removed:
        print(f"removed {path}")
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from gateway.cli.ledger_verify import run_verify_cli

    return run_verify_cli(
        export=Path(args.export) if args.export else None,
        database=args.database,
        public_key=Path(args.public_key),
        origin=args.origin,
        progress=not args.quiet,
        extra_checkpoints=[Path(p) for p in args.checkpoint],
        witness=args.witness,
        witness_key=args.witness_key,
    )


def cmd_witness_init(args: argparse.Namespace) -> int:
    from gateway.cli.witness import run_witness_init

    return run_witness_init(Path(args.config))


def cmd_witness_serve(args: argparse.Namespace) -> int:
    from gateway.cli.witness import run_witness_serve

    return run_witness_serve(Path(args.config), args.host, args.port)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.cli.db import run_db_upgrade

    return run_db_upgrade(Path(args.config))


def cmd_clients_hash(args: argparse.Namespace) -> int:
    import getpass

    from gateway.adapters.client_files import hash_client_secret

    secret = getpass.getpass("client secret: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    print(hash_client_secret(secret))
    return 0


def error_table() -> str:
    """The Markdown table of every stable error code, as the README shows it."""
    from gateway.errors import error_classes

    rows = ["| code | status | meaning |", "|---|---|---|"]
    for cls in error_classes():
        doc = (cls.__doc__ or "").strip().replace("``", "`")
        rows.append(f"| `{cls.code}` | {cls.status} | {doc} |")
    return "\n".join(rows)


def cmd_errors(args: argparse.Namespace) -> int:
    print(error_table())
    return 0


def cmd_repairs_export(args: argparse.Namespace) -> int:
    from gateway.cli.repairs import run_repairs_export

    return run_repairs_export(
        Path(args.config), args.department, args.since, Path(args.out) if args.out else None
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Credit information sharing gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build demo databases, keys and clients, then serve")
    demo.add_argument("--dir", default=".demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--workers", type=int, help=WORKERS_HELP)
    demo.add_argument("--policies")
    demo.add_argument("--no-serve", action="store_true", help="prepare everything but do not serve")
    demo.add_argument("--metrics-port", type=int, help=METRICS_HELP)
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="serve a configured deployment")
    serve.add_argument("--config", required=True, help="YAML settings file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help=WORKERS_HELP)
    serve.add_argument("--metrics-port", type=int, help=METRICS_HELP)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=cmd_openapi)

    catalog = sub.add_parser("catalog", help="catalog tools").add_subparsers(
        dest="catalog_cmd", required=True
    )
    check = catalog.add_parser("check", help="report every problem in the catalog")
    check.add_argument("--policies")
    check.add_argument("--config", help="settings file; its sources are reflected to check column mappings")
    check.set_defaults(func=cmd_catalog_check)

    policy = sub.add_parser("policy", help="policy tools").add_subparsers(dest="policy_cmd", required=True)
    ptest = policy.add_parser("test", help="run every test_ rule on the embedded engine")
    ptest.add_argument("--policies")
    ptest.set_defaults(func=cmd_policy_test)
    from gateway.cli.policy_draft import add_policy_draft_parser

    add_policy_draft_parser(policy)

    keys = sub.add_parser("keys", help="key management").add_subparsers(dest="keys_cmd", required=True)
    kinit = keys.add_parser("init", help="generate missing keys and secrets")
    kinit.add_argument("--dir", default="keys")
    kinit.set_defaults(func=cmd_keys_init)
    krot = keys.add_parser("rotate", help="rotate a signing key, keeping the previous public key")
    krot.add_argument("name", choices=["token", "ledger"])
    krot.add_argument("--dir", default="keys")
    krot.add_argument("--config", help="settings file (its keys_dir is used)")
    krot.set_defaults(func=cmd_keys_rotate)
    kret = keys.add_parser(
        "retire", help="remove previous token keys once every token they signed has expired"
    )
    kret.add_argument("name", choices=["token", "ledger"])
    kret.add_argument("--dir", default="keys")
    kret.add_argument("--config", help="settings file: its keys_dir and token_lifetime_s are used")
    kret.add_argument(
        "--token-lifetime", type=int, default=3600, help="without --config: the longest token lifetime (s)"
    )
    kret.set_defaults(func=cmd_keys_retire)

    ledger = sub.add_parser("ledger", help="ledger tools").add_subparsers(dest="ledger_cmd", required=True)
    verify = ledger.add_parser("verify", help="verify a ledger export or database offline")
    src = verify.add_mutually_exclusive_group(required=True)
    src.add_argument("--export", help="JSON Lines export file")
    src.add_argument("--database", help="ledger database URL")
    verify.add_argument("--public-key", required=True, help="ledger public key (PEM)")
    verify.add_argument("--origin", help="expected checkpoint origin line")
    verify.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a signed checkpoint saved earlier (repeatable): the log must still be consistent with it",
    )
    verify.add_argument(
        "--witness",
        metavar="URL|FILE",
        help="a witness (URL) or a checkpoint it cosigned (file): the log must be consistent with it",
    )
    verify.add_argument("--witness-key", metavar="VKEY|FILE", help="the witness's verifier key")
    verify.add_argument("--quiet", action="store_true")
    verify.set_defaults(func=cmd_ledger_verify)

    witness = sub.add_parser("witness", help="an independent ledger witness").add_subparsers(
        dest="witness_cmd", required=True
    )
    winit = witness.add_parser("init", help="create the witness's own key; print its verifier key")
    winit.add_argument("--config", required=True, help="witness YAML settings file")
    winit.set_defaults(func=cmd_witness_init)
    wserve = witness.add_parser("serve", help="serve the witness (c2sp.org/tlog-witness)")
    wserve.add_argument("--config", required=True, help="witness YAML settings file")
    wserve.add_argument("--host", default="127.0.0.1")
    wserve.add_argument("--port", type=int, default=8080)
    wserve.set_defaults(func=cmd_witness_serve)

    db = sub.add_parser("db", help="gateway database tools").add_subparsers(dest="db_cmd", required=True)
    upgrade = db.add_parser(
        "upgrade", help="create or migrate the ledger and grant schema to the newest revision"
    )
    upgrade.add_argument("--config", required=True, help="YAML settings file (its ledger_url is migrated)")
    upgrade.set_defaults(func=cmd_db_upgrade)

    repairs = sub.add_parser("repairs", help="credit repair tools").add_subparsers(
        dest="repairs_cmd", required=True
    )
    rexport = repairs.add_parser(
        "export", help="the effective repairs a source department must apply to its own records"
    )
    rexport.add_argument("--config", required=True, help="YAML settings file")
    rexport.add_argument("--department", required=True, help="the source department (catalog id)")
    rexport.add_argument("--since", help="only repairs effective at or after this RFC 3339 time")
    rexport.add_argument("--out", help="write the JSON here instead of standard output")
    rexport.set_defaults(func=cmd_repairs_export)

    clients = sub.add_parser("clients", help="client tools").add_subparsers(dest="clients_cmd", required=True)
    errors = sub.add_parser("errors", help="print the table of stable error codes")
    errors.set_defaults(func=cmd_errors)

    chash = clients.add_parser("hash-secret", help="hash a client secret read from stdin")
    chash.set_defaults(func=cmd_clients_hash)

    from gateway.cli.users import add_users_parser

    add_users_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from gateway.errors import GatewayError

        if isinstance(exc, GatewayError):
            print(f"error [{exc.problem_code}]: {exc.detail}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
