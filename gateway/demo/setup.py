"""`gateway demo`: build a complete embedded deployment in one folder and explain how to use it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.client_files import ClientRegistry, new_client
from gateway.adapters.console_users import UserFile, add_user
from gateway.adapters.key_files import FileKeyStore
from gateway.demo.data import DemoManifest, demo_manifest, write_demo_sqlite

# Demo clients: one per role the gateway serves (DESIGN §2).
DEMO_CLIENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("credit-platform", "development_reform", ("query",)),
    ("housing-bureau", "housing", ("query",)),
    ("procurement-center", "public_resources", ("query",)),
    ("consent-desk", "finance", ("grants:write", "query")),
    ("market-records", "market_regulation", ("records:repair", "query")),
    ("court-records", "court", ("records:repair",)),
    ("auditor", "audit_office", ("audit:read", "audit:review")),
    ("policy-admin", "security_team", ("policy:admin", "audit:read")),
)


# The demo's console account: an auditor of the audit office.
DEMO_AUDITOR = ("demo.auditor", "演示审计员", "audit_office", "auditor")


@dataclass(frozen=True, slots=True)
class Demo:
    """What `gateway demo` prepared."""

    directory: Path
    config_file: Path
    clients: list[dict[str, Any]]
    manifest: DemoManifest
    base_url: str
    console_user: dict[str, str]


def _clients(directory: Path) -> list[dict[str, Any]]:
    """Create the demo clients once; later runs reuse them so saved secrets keep working."""
    listing = directory / "demo-clients.json"
    registry_file = directory / "clients.yaml"
    if listing.exists() and registry_file.exists():
        clients: list[dict[str, Any]] = json.loads(listing.read_text(encoding="utf-8"))["clients"]
        return clients
    records = []
    clients = []
    for client_id, department, scopes in DEMO_CLIENTS:
        record, secret = new_client(client_id, department, scopes)
        records.append(record)
        clients.append(
            {
                "client_id": client_id,
                "client_secret": secret,
                "department": department,
                "scopes": list(scopes),
            }
        )
    registry_file.write_text(yaml.safe_dump(ClientRegistry(records).to_document(), sort_keys=False))
    listing.write_text(json.dumps({"clients": clients}, indent=2, ensure_ascii=False) + "\n")
    listing.chmod(0o600)
    return clients


def _console_user(directory: Path) -> dict[str, str]:
    """Create the demo auditor's console account once; later runs reuse it."""
    listing = directory / "demo-users.json"
    users_file = directory / "users.yaml"
    if listing.exists() and users_file.exists():
        saved: dict[str, str] = json.loads(listing.read_text(encoding="utf-8"))
        return saved
    username, display, department, role = DEMO_AUDITOR
    users = UserFile.load(users_file)
    record, password = add_user(users, username, department=department, role=role, display_name=display)
    users.save(users_file)
    account = {"username": username, "password": password, "totp_seed": record.totp_secret, "role": role}
    listing.write_text(json.dumps(account, indent=2, ensure_ascii=False) + "\n")
    listing.chmod(0o600)
    return account


DEMO_ORIGIN = "demo.credit-gateway.example/ledger"


def _demo_origin(config_file: Path) -> str:
    """The ledger origin of the demo: the one it was prepared with before, whatever the port now.

    The origin names the log in every checkpoint and is fixed when the ledger is created; deriving
    it from ``--port`` would make the same folder served on another port a different log.
    """
    try:
        previous = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return DEMO_ORIGIN
    origin = previous.get("ledger_origin") if isinstance(previous, dict) else None
    return origin if isinstance(origin, str) and origin else DEMO_ORIGIN


def prepare_demo(directory: Path, policies_dir: Path, *, host: str, port: int) -> Demo:
    """Build demo databases, keys, clients and a settings file under ``directory``."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    urls = write_demo_sqlite(directory / "data")
    FileKeyStore(directory / "keys").init()
    clients = _clients(directory)
    base_url = f"http://{host}:{port}"
    settings = {
        "environment": "development",
        "policies_dir": str(policies_dir.resolve()),
        "keys_dir": "keys",
        "clients_file": "clients.yaml",
        "ledger_url": f"sqlite:///{directory / 'ledger.db'}",
        "ledger_origin": _demo_origin(directory / "gateway.yaml"),
        "sources": urls,
        "issuer": base_url,
        "audience": "credit-gateway",
    }
    config_file = directory / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return Demo(directory, config_file, clients, demo_manifest(), base_url, _console_user(directory))


def example_query(demo: Demo) -> dict[str, Any]:
    """A query the demo allows: the credit platform checks an enterprise's penalties for a licence."""
    subject = demo.manifest.legal_person
    return {
        "purpose": "admin_licensing_review",
        "legal_basis": "admin_licensing_law_31",
        "items": ["market.enterprise_registration", "market.admin_penalty"],
        "subjects": [{"id_type": str(subject.id_type), "value": subject.value}],
    }


def print_welcome(demo: Demo) -> None:
    """Tell the person at the terminal what is running and how to try it."""
    platform = next(c for c in demo.clients if c["client_id"] == "credit-platform")
    body = json.dumps(example_query(demo), ensure_ascii=False)
    print(f"Demo prepared in {demo.directory}")
    print(f"  clients (ids, secrets, departments, scopes): {demo.directory / 'demo-clients.json'}")
    print(f"  settings: {demo.config_file}")
    print()
    print("Try a first query:")
    print(
        f"  TOKEN=$(curl -s -u '{platform['client_id']}:{platform['client_secret']}' "
        f"-d grant_type=client_credentials {demo.base_url}/oauth/token "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )
    print(
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f"{demo.base_url}/v1/queries -d '{body}' | python3 -m json.tool --no-ensure-ascii"
    )
    print()
    print(f"Catalog: {demo.base_url}/v1/catalog   API docs: {demo.base_url}/docs")
    account = demo.console_user
    print()
    print(
        f"Auditor console: {demo.base_url}/console   (account saved in {demo.directory / 'demo-users.json'})"
    )
    print(f"  user {account['username']}   password {account['password']}")
    print(f"  TOTP seed {account['totp_seed']}  (scan the QR code shown at first sign-in, or type the seed")
    print(
        "  into an authenticator app; a code now: .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('"
        f"{account['totp_seed']}').now())\")"
    )
    print(flush=True)
