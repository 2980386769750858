"""What each replay process runs: its own regorus engines for the two bundles, built on its one thread.

A separate module so a spawned process imports only this, the loader and regorus. Each process
builds its engines in the initializer and evaluates on its main thread only, so no engine ever
crosses a thread (the regorus pitfall in ``regorus.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.adapters.policy.regorus import (
    build_engine,
    engine_error_text,
    evaluate_rule,
    load_policy_sources,
)

ENTRYPOINT = "data.gateway.query.decision"
_ENGINES: dict[str, Any] = {}


def start(base_dir: str, draft_dir: str) -> None:
    """Process initializer: build the base and draft engines once."""
    _ENGINES["base"], _ = build_engine(load_policy_sources(Path(base_dir)))
    _ENGINES["draft"], _ = build_engine(load_policy_sources(Path(draft_dir)))


def _decide(engine: Any, input_json: str) -> Any:
    engine.set_input_json(input_json)
    _, value = evaluate_rule(engine, ENTRYPOINT)
    return value


def replay_chunk(chunk: list[tuple[int, str]]) -> list[tuple[int, Any, Any, str | None]]:
    """(index, base document, draft document, error) for each kept input of the chunk."""
    out: list[tuple[int, Any, Any, str | None]] = []
    base, draft = _ENGINES["base"], _ENGINES["draft"]
    for index, input_json in chunk:
        try:
            json.loads(input_json)  # a kept input that is not JSON is an error of its own
            before = _decide(base, input_json)
            after = _decide(draft, input_json)
        except Exception as exc:  # one bad input is an error in the report, not a failed replay
            out.append((index, None, None, f"{type(exc).__name__}: {engine_error_text(exc)[:200]}"))
            continue
        out.append((index, before, after, None))
    return out
