"""``gateway witness``: an independent ledger witness (c2sp.org/tlog-witness) with its own key and storage.

``gateway witness init --config FILE`` creates the witness's Ed25519 key (``witness.pem`` in its
``keys_dir``) and prints its verifier key, which the gateway's ``witnesses`` setting and auditors'
``gateway ledger verify --witness-key`` take. ``gateway witness serve --config FILE --host H --port P``
serves:

* ``POST /add-checkpoint``: the tlog-witness call (request and answers as the spec defines them);
* ``GET /checkpoint?origin=O``: the latest checkpoint it cosigned for a log, with its cosignature
  (what ``gateway ledger verify --witness URL`` reads);
* ``GET /vkey``: its verifier key.

Its state is a SQLite file of its own (``state_dir/witness.db``), migrated with the gateway's schema
(only the ``witness_checkpoints`` table is used); it never touches the gateway's database.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.services.witness import WitnessService

WITNESS_KEY = "witness.pem"
MAX_BODY = 64 * 1024  # an old-size line, 63 proof lines and a note with a few signatures fit easily

log = logging.getLogger("gateway.witness")


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def witness_app(service: WitnessService) -> Starlette:
    """The witness's HTTP app around ``service``."""
    from gateway.domain.transparency.witness import Outcome, witness_vkey

    async def add_checkpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("request too large\n", status_code=413)
        answer = service.add_checkpoint(body)
        if answer.outcome is Outcome.COSIGNED:
            return PlainTextResponse("".join(line + "\n" for line in answer.lines))
        if answer.outcome is Outcome.CONFLICT:
            return Response(f"{answer.known_size or 0}\n", status_code=409, media_type="text/x.tlog.size")
        return PlainTextResponse(answer.detail + "\n", status_code=int(answer.outcome))

    async def checkpoint(request: Request) -> Response:
        note = service.latest(request.query_params.get("origin", ""))
        if note is None:
            return PlainTextResponse("no checkpoint cosigned for this origin\n", status_code=404)
        return PlainTextResponse(note, headers={"Cache-Control": "no-store"})

    async def vkey(request: Request) -> Response:
        return PlainTextResponse(witness_vkey(service.name, service.public_key) + "\n")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/checkpoint", checkpoint, methods=["GET"]),
            Route("/vkey", vkey, methods=["GET"]),
        ]
    )


def build_witness(config_file: Path) -> tuple[WitnessService, object]:
    """The witness service for a configuration file, and its state store (to close)."""
    from gateway.adapters.crypto.ed25519 import Ed25519Signer, ed25519_public_key, ed25519_verify
    from gateway.adapters.sql.witnesses import SqlWitnessState
    from gateway.errors import ConfigurationError
    from gateway.settings import load_witness_settings

    settings = load_witness_settings(config_file)
    key_file = settings.keys_dir / WITNESS_KEY
    try:
        signer = Ed25519Signer(key_file.read_bytes())
        logs = {entry.origin: [ed25519_public_key(entry.public_key.read_bytes())] for entry in settings.logs}
    except OSError as exc:
        raise ConfigurationError(
            f"the witness cannot read {exc.filename}", accepted="gateway witness init --config FILE"
        ) from exc
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    state = SqlWitnessState(f"sqlite:///{settings.state_dir / 'witness.db'}")
    service = WitnessService(
        name=settings.name,
        public_key=signer.public_key,
        sign=signer.sign,
        verify=ed25519_verify,
        logs=logs,
        state=state,
        clock=_Clock(),
    )
    return service, state


def run_witness_init(config_file: Path) -> int:
    """Create the witness's key if it has none; print its verifier key."""
    from gateway.adapters.crypto.ed25519 import Ed25519Signer, new_ed25519_pem
    from gateway.domain.transparency.witness import witness_vkey
    from gateway.settings import load_witness_settings

    settings = load_witness_settings(config_file)
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.keys_dir / WITNESS_KEY
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(new_ed25519_pem())
        print(f"created {key_file}", file=sys.stderr)
    print(witness_vkey(settings.name, Ed25519Signer(key_file.read_bytes()).public_key))
    return 0


def run_witness_serve(config_file: Path, host: str, port: int) -> int:
    """Serve the witness until interrupted."""
    import uvicorn

    from gateway.domain.transparency.witness import witness_vkey
    from gateway.logging import configure_logging
    from gateway.settings import load_witness_settings

    configure_logging(load_witness_settings(config_file).log_level)
    service, state = build_witness(config_file)
    log.info("witness serving", extra={"vkey": witness_vkey(service.name, service.public_key)})
    try:
        uvicorn.run(witness_app(service), host=host, port=port, log_level="warning", access_log=False)
    finally:
        close = getattr(state, "close", None)
        if close is not None:
            close()
    return 0
