"""The policy lab: bundles as files, and engines built from bundles that are not serving.

A bundle travels as ``{relative path: bytes}``; to build an engine from one, it is written to a
private temporary directory and loaded with the very loader the serving engine uses, so a draft's
revision, compilation and decisions are exactly those it would have once active.

Replay spreads the kept inputs over one process per core, each with its own two engines (base and
draft) built on its only thread: regorus engines must not cross threads, and processes sidestep
the GIL regorus holds while evaluating.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.policy import replay_worker
from gateway.adapters.policy.catalog_files import read_catalog_documents
from gateway.adapters.policy.rego_tests import run_policy_tests_with_coverage
from gateway.adapters.policy.regorus import (
    DATA_FILES,
    POLICY_SUFFIX,
    RegorusEngine,
    build_engine,
    engine_error_text,
    load_policy_sources,
)
from gateway.domain.catalog_check import check_catalog
from gateway.domain.policy_bundle import ReplayedDecision, files_digest
from gateway.errors import ConfigurationError, GatewayError, InvalidRequest

DECISION_ENTRYPOINT = "gateway.query.decision"
MAX_FILES = 500
MAX_BYTES = 8 * 1024 * 1024
CHUNK = 250


def read_bundle(policies_dir: Path) -> dict[str, bytes]:
    """Every Rego module (tests included) and data file under ``policies_dir``, hidden files skipped."""
    root = Path(policies_dir)
    if not root.is_dir():
        raise ConfigurationError(f"policies directory {root} does not exist")
    files: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        if path.name.endswith(POLICY_SUFFIX) or path.name in DATA_FILES:
            files[rel] = path.read_bytes()
    return files


def validate_files(files: Mapping[str, bytes]) -> None:
    """Refuse a bundle that could escape its directory or is too big (InvalidRequest)."""
    if not files:
        raise InvalidRequest("a bundle needs at least one file", field="files")
    if len(files) > MAX_FILES or sum(len(v) for v in files.values()) > MAX_BYTES:
        raise InvalidRequest(
            "the bundle is too big", field="files", accepted=f"at most {MAX_FILES} files, 8 MiB"
        )
    for rel, content in files.items():
        parts = rel.split("/")
        if (
            rel.startswith("/")
            or "\\" in rel
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        ):
            raise InvalidRequest(
                "a bundle path must be relative and plain", field="files", accepted="a/b.rego"
            )
        if not (rel.endswith(POLICY_SUFFIX) or parts[-1] in DATA_FILES):
            raise InvalidRequest("a bundle holds Rego modules and data files only", field="files")
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest("bundle files must be UTF-8 text", field="files") from exc


@contextmanager
def materialized(files: Mapping[str, bytes]) -> Iterator[Path]:
    """The bundle written to a fresh private directory, removed afterwards."""
    validate_files(files)
    with tempfile.TemporaryDirectory(prefix="gateway-bundle-") as tmp:
        root = Path(tmp)
        for rel, content in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        yield root


def _opa_compile(root: Path) -> dict[str, Any]:
    """Compile on OPA's Go library when installed (``opa_bindings``): ok, or its error; skipped else."""
    try:
        import opa_bindings  # type: ignore[import-untyped, import-not-found, unused-ignore]  # optional, no stubs
    except ImportError:
        return {"engine": "opa-go-library", "status": "skipped", "error": "opa_bindings is not installed"}
    engine = opa_bindings.OpaEngine()
    try:
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            text = path.read_text(encoding="utf-8")
            if rel.endswith(POLICY_SUFFIX):
                engine.add_policy(rel, text)
            elif path.name in DATA_FILES:
                document = json.loads(text) if rel.endswith(".json") else yaml.safe_load(text)
                engine.add_data(document, ".".join(Path(rel).parent.parts))
        engine.eval_query("true")  # compiles every module, as `opa run` does before serving
    except Exception as exc:
        return {"engine": "opa-go-library", "status": "failed", "error": str(exc)[:2000]}
    finally:
        engine.close()
    return {"engine": "opa-go-library", "status": "ok", "error": None}


def _regorus_compile(root: Path) -> dict[str, Any]:
    try:
        sources = load_policy_sources(root, include_tests=True)
        _, broken = build_engine(sources, skip_broken=True)
    except GatewayError as exc:
        return {"engine": "regorus", "status": "failed", "error": exc.detail[:2000], "files": {}}
    if broken:
        return {"engine": "regorus", "status": "failed", "error": "modules do not parse", "files": broken}
    return {"engine": "regorus", "status": "ok", "error": None, "files": {}}


class PolicyWorkbenchLab:
    """PolicyLab on regorus (and OPA's Go library for compilation, where installed)."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or max(1, len(os.sched_getaffinity(0)))
        self._engines: OrderedDict[str, RegorusEngine] = OrderedDict()
        self._lock = threading.Lock()

    def revision_of(self, files: Mapping[str, bytes]) -> str:
        """The revision the embedded engine reports for these files."""
        with materialized(files) as root:
            return load_policy_sources(root).revision

    def check(self, files: Mapping[str, bytes]) -> dict[str, Any]:
        """Every check of a draft; ``ok`` only when it compiles everywhere it was compiled, and all pass."""
        with materialized(files) as root:
            compiled = [_regorus_compile(root), _opa_compile(root)]
            tests: list[dict[str, Any]] = []
            coverage: list[dict[str, Any]] = []
            try:
                report, covered = run_policy_tests_with_coverage(root)
                tests = [
                    {
                        "package": r.package,
                        "name": r.name,
                        "file": r.file,
                        "passed": r.passed,
                        "error": r.error,
                        "duration_ms": round(r.duration_ms, 3),
                    }
                    for r in report.results
                ]
                coverage = [
                    {
                        "file": c.file,
                        "covered": list(c.covered),
                        "not_covered": list(c.not_covered),
                        "percent": c.percent,
                    }
                    for c in covered
                ]
                tests_ok = report.ok
            except GatewayError as exc:
                tests_ok = False
                tests = [{"package": "", "name": "(load)", "file": "", "passed": False, "error": exc.detail}]
            documents, problems = read_catalog_documents(root)
            if not problems:
                problems = check_catalog(documents, None)
            catalog = [{"file": p.file, "path": p.path, "message": p.message} for p in problems]
            revision = None
            with contextlib.suppress(GatewayError):
                revision = load_policy_sources(root).revision
        compile_ok = all(c["status"] in ("ok", "skipped") for c in compiled)
        return {
            "ok": bool(compile_ok and tests_ok and not catalog and revision is not None),
            "revision": revision,
            "content_digest": files_digest(files),
            "compile": compiled,
            "tests": tests,
            "tests_passed": sum(1 for t in tests if t["passed"]),
            "tests_failed": sum(1 for t in tests if not t["passed"]),
            "coverage": coverage,
            "catalog": catalog,
        }

    def _engine(self, files: Mapping[str, bytes]) -> RegorusEngine:
        key = files_digest(files)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
                return engine
        with materialized(files) as root:
            engine = RegorusEngine(root)
        with self._lock:
            self._engines[key] = engine
            while len(self._engines) > 8:
                self._engines.popitem(last=False)
        return engine

    def evaluate(self, files: Mapping[str, bytes], input_document: Mapping[str, Any]) -> Any:
        """The decision document for one input on the bundle (PolicyEngineError when it fails)."""
        return self._engine(files).evaluate(DECISION_ENTRYPOINT, input_document)

    def replay(
        self,
        base: Mapping[str, bytes],
        draft: Mapping[str, bytes],
        inputs: Sequence[tuple[int, str]],
        progress: Callable[[int], None] | None = None,
    ) -> list[ReplayedDecision]:
        """Every input on both bundles, in chunks over one process per core; results in index order."""
        if not inputs:
            return []
        chunks = [list(inputs[i : i + CHUNK]) for i in range(0, len(inputs), CHUNK)]
        out: list[ReplayedDecision] = []
        with materialized(base) as base_root, materialized(draft) as draft_root:
            try:
                load_policy_sources(base_root)
                load_policy_sources(draft_root)
            except GatewayError as exc:
                raise ConfigurationError(f"a bundle cannot be loaded for replay: {exc.detail}") from exc
            # spawn, not fork: the parent holds regorus engines on other threads and fork copies them
            context = multiprocessing.get_context("spawn")
            workers = max(1, min(self.processes, len(chunks)))
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=replay_worker.start,
                initargs=(str(base_root), str(draft_root)),
            ) as pool:
                futures = [pool.submit(replay_worker.replay_chunk, chunk) for chunk in chunks]
                for future in as_completed(futures):
                    try:
                        part = future.result()
                    except Exception as exc:
                        raise ConfigurationError(
                            f"the replay could not run: {type(exc).__name__}: {engine_error_text(exc)}"
                        ) from exc
                    out.extend(ReplayedDecision(i, b, a, e) for i, b, a, e in part)
                    if progress is not None:
                        progress(len(part))
        out.sort(key=lambda r: r.ledger_index)
        return out
