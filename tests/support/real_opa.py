"""Real OPA for tests: the ``opa`` binary when it is on PATH, else OPA's Go library in-process.

DESIGN §5 requires the policies to run unchanged on a real OPA server. Two real OPAs can serve here,
tried in this order:

1. ``opa`` on PATH: ``opa run --server --addr 127.0.0.1:<port> <policies dir>``, a real OPA server.
2. ``opa_bindings`` (PyPI ``opa-golib-python-bindings``): OPA's Go packages (``opa/v1/rego``, v1.20 in
   0.4.4) built as a c-shared library. ``GoOpaBackedServer`` serves it over OPA's Data API: the HTTP
   front is a TEST DOUBLE (tests/support/opa_double.py's ``DataApiServer``), but every evaluation is
   done by real OPA: its parser, compiler (Rego v1, type checking, safety) and evaluator.

``real_opa_server`` gives whichever is present, and raises RealOpaUnavailable when neither is;
``missing_real_opa`` turns that into a skip, or a failure when real OPA is required (CI=true, or
GATEWAY_REQUIRE_REAL_OPA=1).

The Go library is loaded the way ``opa run`` loads a directory: every ``*.rego`` file is a module
(``*_test.rego`` only when asked), every ``data.json`` / ``data.yaml`` / ``data.yml`` is data merged
at its directory's path (``catalog/national/data.yaml`` becomes ``data.catalog.national``). OPA's
file loader is not reachable through the library, so the files are read and parsed here (PyYAML),
separately from the embedded engine's loader (gateway/adapters/regorus_engine.py), so the two can be
compared; the deep merge at a path is the binding's.

How the library differs from ``opa run --server`` (0.4.4):

* It evaluates with strict builtin errors: a failing builtin (``object.get`` on a string, a division
  by zero) is an error here (a 500 from ``GoOpaBackedServer``), where ``opa run`` by default makes
  the expression undefined. A policy that never meets a builtin error decides the same on both, which
  is why tests/policies/test_real_opa.py requires no evaluation error on its corpora.
* Its C API takes no compiler options, so there is no ``--strict`` compile (see test_real_opa.py).
* Every new query (a new ``data.<path>``) compiles every module again, about 0.1 s for policies/;
  evaluating a path seen before costs what the evaluation costs.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
import yaml

from gateway.errors import ConfigurationError
from gateway.ports import JSON
from tests.support.opa_double import DataApiServer, EvaluationFailed, RegorusBackedOpaServer, free_port

RealOpaKind = Literal["opa", "go-opa-library"]
BINARY: RealOpaKind = "opa"
LIBRARY: RealOpaKind = "go-opa-library"
LIBRARY_MODULE = "opa_bindings"
# The install line for the library (its metadata says Python >= 3.14; it runs on 3.11).
LIBRARY_INSTALL = "pip install --ignore-requires-python opa-golib-python-bindings==0.4.4"

REAL_OPA_REQUIRED = os.environ.get("CI") == "true" or os.environ.get("GATEWAY_REQUIRE_REAL_OPA") == "1"
STARTUP_TIMEOUT_S = 20.0
DATA_FILES = frozenset({"data.json", "data.yaml", "data.yml"})


class RealOpaUnavailable(RuntimeError):
    """Neither the ``opa`` binary nor OPA's Go library is installed."""


def opa_binary() -> str | None:
    """The ``opa`` executable on PATH, if any."""
    return shutil.which("opa")


def go_opa_library() -> Any | None:
    """The ``opa_bindings`` module (OPA's Go library), or None when it is not installed."""
    try:
        return importlib.import_module(LIBRARY_MODULE)
    except ImportError:
        return None


def real_opa_kind() -> RealOpaKind | None:
    """Which real OPA ``real_opa_server`` would use: the binary first, then the library."""
    if opa_binary() is not None:
        return BINARY
    if go_opa_library() is not None:
        return LIBRARY
    return None


def missing_real_opa(what: str) -> NoReturn:
    """Skip the calling test because real OPA is missing, or fail it when real OPA is required."""
    message = f"{what} needs a real OPA: put `opa` on PATH or `{LIBRARY_INSTALL}`"
    if REAL_OPA_REQUIRED:
        pytest.fail(f"real OPA is required here (CI) but missing: {message}")
    pytest.skip(message)


# --- OPA's Go library ---------------------------------------------------------------------------------


def _policy_files(policies_dir: Path, include_tests: bool) -> Iterator[tuple[str, Path]]:
    for path in sorted(p for p in policies_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(policies_dir).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue  # hidden files and directories, as OPA's loader skips them
        is_module = path.name.endswith(".rego") and (include_tests or not path.name.endswith("_test.rego"))
        if is_module or path.name in DATA_FILES:
            yield rel, path


def go_opa_engine(policies_dir: Path, *, include_tests: bool = False, catalog_index: bool = True) -> Any:
    """A compiled ``opa_bindings.OpaEngine`` holding ``policies_dir``, as ``opa run`` would load it.

    Raises RealOpaUnavailable without the library, ConfigurationError when a module does not parse
    or compile (``opa run`` refuses to start then) or a data file cannot be read or merged.
    """
    library = go_opa_library()
    if library is None:
        raise RealOpaUnavailable(f"{LIBRARY_MODULE} is not installed ({LIBRARY_INSTALL})")
    engine = library.OpaEngine()
    root = Path(policies_dir)
    modules = 0
    for rel, path in _policy_files(root, include_tests):
        try:
            text = path.read_text(encoding="utf-8")
            if rel.endswith(".rego"):
                engine.add_policy(rel, text)
                modules += 1
            else:
                document = json.loads(text) if rel.endswith(".json") else yaml.safe_load(text)
                engine.add_data(document, ".".join(Path(rel).parent.parts))
        except (OSError, ValueError, TypeError, yaml.YAMLError, library.OpaError) as exc:
            engine.close()
            raise ConfigurationError(f"OPA cannot load {rel}: {exc}") from exc
    if not modules:
        engine.close()
        raise ConfigurationError(f"no Rego policy under {root}")
    try:
        engine.eval_query("true")  # compiles every module now, as `opa run` does before serving
    except library.OpaError as exc:
        engine.close()
        raise ConfigurationError(f"OPA does not compile {root}: {exc.message}") from exc
    if catalog_index:
        _add_catalog_index(engine, library)
    return engine


def _add_catalog_index(engine: Any, library: Any) -> None:
    """Place at ``data.catalog_index`` the index OPA itself derives (``data.gateway.index.built``).

    The gateway derives it once at load and sends it to its OPA server (OpaEngine); here OPA builds
    its own, so test_real_opa.py can check that both engines derive the same document. Without an
    index package there is nothing to add (every decision takes the full evaluation).
    """
    try:
        index = engine.eval_document("gateway.index.built", None)
    except library.OpaUndefinedError:
        return
    except library.OpaError as exc:
        raise ConfigurationError(f"OPA cannot build the catalog index: {exc.message}") from exc
    engine.add_data(index, "catalog_index")


def go_opa_evaluate(engine: Any, path: str, input_document: JSON | None) -> tuple[bool, JSON]:
    """``data.<path>`` (dotted) on a Go OPA engine: (defined, value). Raises ``opa_bindings.OpaError``.

    ``input_document`` None leaves the input undefined.
    """
    library = go_opa_library()
    if library is None:
        raise RealOpaUnavailable(f"{LIBRARY_MODULE} is not installed ({LIBRARY_INSTALL})")
    try:
        return True, engine.eval_document(path, input_document)
    except library.OpaUndefinedError:
        return False, None


class GoOpaBackedServer(DataApiServer):
    """TEST DOUBLE of an OPA server's HTTP front whose every evaluation is REAL OPA (its Go library).

    Answers like ``opa run --server``: ``{"result": ...}`` when defined, ``{}`` when undefined or
    missing, ``500 internal_error`` when evaluation fails (a conflict; also a builtin error, which
    ``opa run`` would make undefined: see the module docstring). The body's
    ``input`` is passed through as it is; an absent (or null) ``input`` leaves the input undefined.
    One engine serves every request thread: the binding serializes evaluations with its own lock,
    and this class holds one more around each call so that stays true whatever the binding does.
    """

    thread_name = "opa-go-library"

    def __init__(
        self, policies_dir: Path, *, include_tests: bool = False, catalog_index: bool = True
    ) -> None:
        library = go_opa_library()
        if library is None:
            raise RealOpaUnavailable(f"{LIBRARY_MODULE} is not installed ({LIBRARY_INSTALL})")
        self.engine = go_opa_engine(policies_dir, include_tests=include_tests, catalog_index=catalog_index)
        self._error: type[Exception] = library.OpaError
        self._lock = threading.Lock()
        super().__init__()

    def decide(self, path: str, request: dict[str, Any]) -> JSON:
        try:
            with self._lock:
                _, value = go_opa_evaluate(self.engine, path, request.get("input"))
        except self._error as exc:
            raise EvaluationFailed(str(exc)) from exc  # OpaError's text is "<code>: <message>"
        return value

    def read_data(self, path: str) -> tuple[bool, JSON]:
        try:
            with self._lock:
                return go_opa_evaluate(self.engine, path, None)
        except self._error as exc:
            raise LookupError(path) from exc

    def write_data(self, path: str, document: JSON) -> None:
        with self._lock:
            self.engine.add_data(document, path)

    def stop(self) -> None:
        super().stop()
        with self._lock:
            self.engine.close()


# --- the opa binary -----------------------------------------------------------------------------------


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"opa exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ConfigurationError("opa did not become healthy in time")


@contextmanager
def opa_binary_server(policies_dir: Path, binary: str) -> Iterator[str]:
    """``opa run --server`` on a free loopback port with ``policies_dir`` loaded; yields its URL.

    ``opa run`` loads every ``.rego`` file of the directory, ``*_test.rego`` included.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", str(policies_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- either --------------------------------------------------------------------------------------------


@contextmanager
def real_opa_server(policies_dir: Path, *, include_tests: bool = False) -> Iterator[tuple[str, RealOpaKind]]:
    """A real OPA answering the Data API for ``policies_dir``: (url, kind).

    The ``opa`` binary when on PATH (it loads test modules whatever ``include_tests`` says), else
    ``GoOpaBackedServer``; RealOpaUnavailable when neither is installed.
    """
    binary = opa_binary()
    if binary is not None:
        with opa_binary_server(policies_dir, binary) as url:
            yield url, BINARY
        return
    if go_opa_library() is None:
        raise RealOpaUnavailable(f"no `opa` on PATH and no {LIBRARY_MODULE} ({LIBRARY_INSTALL})")
    with GoOpaBackedServer(policies_dir, include_tests=include_tests) as server:
        yield server.url, LIBRARY


ParityKind = Literal["opa", "go-opa-library", "double"]


@contextmanager
def parity_opa_server(policies_dir: Path) -> Iterator[tuple[str, ParityKind]]:
    """The OPA the adapter parity tests talk to: real OPA when installed, else the regorus double.

    Without real OPA the parity tests only check the adapter and its wire handling (the double
    decides with regorus itself), so that fallback is refused when real OPA is required (CI).
    """
    if real_opa_kind() is None:
        if REAL_OPA_REQUIRED:
            pytest.fail(
                f"real OPA is required here (CI) but missing: put `opa` on PATH or `{LIBRARY_INSTALL}`"
            )
        with RegorusBackedOpaServer(policies_dir) as double:
            yield double.url, "double"
        return
    with real_opa_server(policies_dir) as (url, kind):
        yield url, kind
