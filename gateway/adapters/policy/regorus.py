"""The embedded policy engine: regorus (Microsoft's Rust Rego interpreter) in-process.

The policies directory is read once, the way ``opa run policies/`` reads it: every ``*.rego`` file is a
module, and every ``data.json`` / ``data.yaml`` file is data placed at its directory's path
(``catalog/national/data.yaml`` becomes ``data.catalog.national``). The policy revision is the SHA-256
of everything loaded, so a decision can name exactly which sources made it.

A regorus ``Engine`` is "unsendable": touching it from any thread other than the one that created it
panics, and that includes calling ``clone()`` on it. So each thread builds its own engine from the
cached sources on first use (about 8 ms) and keeps it in a ``threading.local``.

The catalog index (``policies/gateway/index``) is derived here too, once per load: the rule
``data.gateway.index.built`` depends on the catalogs alone, so it is evaluated on a scratch engine and
its answer placed at ``data.catalog_index``, where the query decision looks its plans up by key. The
OPA adapter sends the same document to its server (``PolicySources.index``), and its digest is part
of the revision. Without it (no index package, or catalogs it cannot be built from) every decision
takes the full evaluation, which decides the same.

Fail closed: every failure on the evaluation path (a policy error, a conflict, bad input, even a panic
inside the extension) is a PolicyEngineError. A rule that is undefined, or that does not exist,
evaluates to None, exactly as OPA's Data API answers ``{}`` for both.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regorus
import yaml

from gateway.adapters.yaml_files import load_yaml
from gateway.errors import ConfigurationError, PolicyEngineError
from gateway.ports import JSON

POLICY_SUFFIX = ".rego"
TEST_SUFFIX = "_test.rego"
DATA_FILES = frozenset({"data.json", "data.yaml", "data.yml"})
_ENTRYPOINT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_ERROR = 2000
INDEX_RULE = "data.gateway.index.built"
INDEX_KEY = "catalog_index"
# The index's place among the framed files of the revision: no file can have this name.
INDEX_FRAME = "\x00derived/catalog_index.json"
log = logging.getLogger("gateway.policy")


def engine_error_text(exc: BaseException) -> str:
    """The useful part of a regorus error: its message, without the Rust stack backtrace."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    return text[:_MAX_ERROR] or type(exc).__name__


@dataclass(frozen=True, slots=True)
class PolicySources:
    """Everything loaded from a policies directory, ready to feed to an engine."""

    root: Path
    modules: tuple[tuple[str, str], ...]  # (path relative to root, Rego source)
    data: Mapping[str, Any]  # the merged data document
    data_files: tuple[str, ...]  # relative paths of the data files merged into ``data``
    revision: str
    index: Mapping[str, Any] | None = None  # the derived catalog index, placed at data.catalog_index

    @property
    def data_json(self) -> str:
        """The data document as JSON text (what regorus loads), the catalog index included."""
        data = dict(self.data)
        if self.index is not None:
            data[INDEX_KEY] = self.index
        return json.dumps(data, ensure_ascii=False, allow_nan=False)


def sources_revision(files: Mapping[str, bytes]) -> str:
    """``sha256:<hex>`` over the files sorted by relative path, each framed by its path and length.

    Framing (path length, path, content length, content) makes the digest unambiguous: moving bytes
    from one file to the next, or renaming a file, changes it.
    """
    digest = hashlib.sha256()
    for rel in sorted(files):
        name = rel.encode("utf-8")
        content = files[rel]
        digest.update(len(name).to_bytes(8, "big") + name + len(content).to_bytes(8, "big") + content)
    return "sha256:" + digest.hexdigest()


def _parse_data(rel: str, raw: bytes) -> Any:
    text = raw.decode("utf-8")
    if rel.endswith(".json"):
        return json.loads(text)
    return load_yaml(text)


def _place(data: dict[str, Any], rel: str, document: Any) -> None:
    """Merge ``document`` into ``data`` at the directory path of ``rel``, as OPA's loader does."""
    path = [part for part in Path(rel).parent.parts if part not in ("", ".")]
    if not path and not isinstance(document, dict):
        raise ConfigurationError(f"policy data file {rel} at the root must hold an object")
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigurationError(f"policy data file {rel} collides with data at {part!r}")
        node = child
    if path:
        last = path[-1]
        if last in node:
            raise ConfigurationError(f"policy data file {rel} collides with other data at {'.'.join(path)}")
        node[last] = document
    else:
        for key, value in document.items():
            if key in node:
                raise ConfigurationError(f"policy data file {rel} redefines top-level data {key!r}")
            node[key] = value


def load_policy_sources(policies_dir: Path, *, include_tests: bool = False) -> PolicySources:
    """Read every Rego module (tests only if asked) and every data file under ``policies_dir``.

    Raises ConfigurationError when the directory is missing, has no module, or a file cannot be read
    or parsed as data. Rego syntax is checked later, by the engine.
    """
    root = Path(policies_dir)
    if not root.is_dir():
        raise ConfigurationError(f"policies directory {root} does not exist")
    files: dict[str, bytes] = {}
    modules: list[tuple[str, str]] = []
    data: dict[str, Any] = {}
    data_files: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue  # editor and VCS droppings, like OPA's loader skips hidden files
        is_module = path.name.endswith(POLICY_SUFFIX) and (
            include_tests or not path.name.endswith(TEST_SUFFIX)
        )
        is_data = path.name in DATA_FILES
        if not (is_module or is_data):
            continue
        try:
            raw = path.read_bytes()
            if is_module:
                modules.append((rel, raw.decode("utf-8")))
            else:
                _place(data, rel, _parse_data(rel, raw))
                data_files.append(rel)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise ConfigurationError(
                f"policy file {rel} cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        files[rel] = raw
    if not modules:
        raise ConfigurationError(f"no Rego policy under {root}")
    if INDEX_KEY in data:
        raise ConfigurationError(f"policy data may not define {INDEX_KEY!r}: the gateway derives it")
    index = derive_index(modules, data)
    if index is not None:
        files[INDEX_FRAME] = canonical_index(index)
    return PolicySources(root, tuple(modules), data, tuple(data_files), sources_revision(files), index)


def canonical_index(index: Mapping[str, Any]) -> bytes:
    """The catalog index as the bytes its digest is taken over (sorted keys, no spaces)."""
    text = json.dumps(index, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
    return text.encode()


def derive_index(modules: list[tuple[str, str]], data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``data.gateway.index.built`` over ``data``, evaluated once on a scratch engine, or None.

    None when the policies have no index or it cannot be built (a module that does not compile,
    local catalogs that disagree): the decisions are then all made by the full evaluation, which
    reports such a catalog as it always did. Test modules are left out, as in serving.
    """
    policies = [(rel, text) for rel, text in modules if not rel.endswith(TEST_SUFFIX)]
    engine = regorus.Engine()
    try:
        for rel, text in policies:
            engine.add_policy(rel, text)
        engine.add_data_json(json.dumps(data, ensure_ascii=False, allow_nan=False))
        defined, value = evaluate_rule(engine, INDEX_RULE)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a pyo3 PanicException derives from BaseException
        if any("package gateway.index" in text for _, text in policies):
            log.warning("catalog index not built: %s", engine_error_text(exc))
        return None
    if not defined or not isinstance(value, dict):
        return None
    return value


def build_engine(sources: PolicySources, *, skip_broken: bool = False) -> tuple[Any, dict[str, str]]:
    """A fresh regorus Engine holding ``sources``, usable only on the calling thread.

    Returns the engine and, when ``skip_broken``, the modules that failed to parse (path -> error);
    otherwise the first broken module raises ConfigurationError.
    """
    engine = regorus.Engine()
    broken: dict[str, str] = {}
    for rel, text in sources.modules:
        try:
            engine.add_policy(rel, text)
        except Exception as exc:  # regorus raises RuntimeError with the parser's message
            if not skip_broken:
                raise ConfigurationError(f"policy {rel} does not compile: {engine_error_text(exc)}") from exc
            broken[rel] = engine_error_text(exc)
    try:
        engine.add_data_json(sources.data_json)
    except Exception as exc:
        raise ConfigurationError(f"policy data cannot be loaded: {engine_error_text(exc)}") from exc
    return engine, broken


# What ``eval_rule_as_json`` answers for an undefined rule (a rule could also hold this very string).
_UNDEFINED = '"<undefined>"'


def evaluate_rule(engine: Any, path: str) -> tuple[bool, JSON]:
    """Evaluate ``path`` (``data.x.y``) on a prepared engine: (defined, value). Raises what regorus raises.

    ``eval_rule_as_json`` first: a query (``eval_query``) prepares every loaded module again on each
    call, about 100 us with the gateway's policies, where evaluating the decision rule itself costs a
    fraction of that; and like the query it encodes sets as arrays (``eval_rule`` fails on sets of
    objects). What it cannot answer is left to the query, which answers it unambiguously: a path that
    is no rule (a package, a key inside a rule, a rule that does not exist; regorus raises) and an
    undefined rule (regorus answers a string that a rule could also hold).
    """
    try:
        text = engine.eval_rule_as_json(path)
    except RuntimeError as exc:
        if "not a valid rule path" not in str(exc):
            raise
        text = _UNDEFINED
    if text.strip() != _UNDEFINED:
        return True, json.loads(text)
    answer = json.loads(engine.eval_query_as_json(path))
    results = answer.get("result") or []
    if not results:
        return False, None
    return True, results[0]["expressions"][0]["value"]


# Per-thread engines live in ONE module-level thread-local, keyed by the owning RegorusEngine's token,
# not in a per-instance ``threading.local``: when an instance is garbage-collected, a per-instance local
# frees every thread's engine from the collecting thread, and regorus panics on a drop from a foreign
# thread. Here each thread only ever drops its own engines, when it exits or when it next evaluates
# after their owner has gone (see ``_purge_dead``).
_THREAD_ENGINES = threading.local()
_DEAD_TOKENS: set[int] = set()
_TOKENS = itertools.count(1)


def _thread_engines() -> dict[int, Any]:
    engines: dict[int, Any] | None = getattr(_THREAD_ENGINES, "engines", None)
    if engines is None:
        engines = {}
        _THREAD_ENGINES.engines = engines
    return engines


def _purge_dead(engines: dict[int, Any]) -> None:
    for token in [t for t in engines if t in _DEAD_TOKENS]:
        del engines[token]  # dropped on the thread that built it


class RegorusEngine:
    """PolicyEngine over regorus, one engine per thread, all built from the same cached sources."""

    def __init__(self, policies_dir: Path) -> None:
        self._sources = load_policy_sources(policies_dir)
        self._token = next(_TOKENS)
        self._lock = threading.Lock()
        self._engines_built = 0
        # Build once now, on this thread, so a policy that does not compile stops startup rather
        # than failing the first query.
        _thread_engines()[self._token] = self._build()
        weakref.finalize(self, _DEAD_TOKENS.add, self._token)

    @property
    def revision(self) -> str:
        return self._sources.revision

    @property
    def sources(self) -> PolicySources:
        """The sources every engine is built from."""
        return self._sources

    @property
    def engines_built(self) -> int:
        """How many per-thread engines have been built so far (one per thread that evaluated)."""
        return self._engines_built

    def _build(self) -> Any:
        engine, _ = build_engine(self._sources)
        with self._lock:
            self._engines_built += 1
        return engine

    def _engine(self) -> Any:
        engines = _thread_engines()
        engine = engines.get(self._token)
        if engine is None:
            _purge_dead(engines)
            engine = self._build()
            engines[self._token] = engine
        return engine

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        if not _ENTRYPOINT.fullmatch(entrypoint):
            raise PolicyEngineError(f"invalid policy entrypoint {entrypoint!r}")
        try:
            input_json = json.dumps(input_document, ensure_ascii=False, allow_nan=False)
            engine = self._engine()
            engine.set_input_json(input_json)
            _, value = evaluate_rule(engine, "data." + entrypoint)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a pyo3 PanicException derives from BaseException
            # Never a default allow: whatever went wrong, the caller gets a refusal. The engine's own
            # message stays on the chained exception: it may quote policy source, and it is no
            # business of the requester's.
            raise PolicyEngineError(
                f"the policy engine could not evaluate {entrypoint} ({type(exc).__name__})"
            ) from exc
        return value
