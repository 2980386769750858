#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only Python 3.11+.

    python3 dev.py demo   # create .venv, install the gateway, build the demo and serve it
    python3 dev.py test   # create .venv, install with dev tools, lint, types, layering, policies, pytest

Only the standard library is used here, so this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("GATEWAY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# The real OPA engine (OPA's Go library) for the tests that run our policies on OPA itself. Its wheel
# declares Python >= 3.14 but is a c-shared library that works on 3.11; only linux x86_64 has a wheel.
REAL_OPA = "opa-golib-python-bindings==0.4.4"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)  # noqa: S603 - fixed local commands


def ensure_venv(extras: str) -> None:
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + REAL_OPA.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
    if extras == "dev" and platform.system() == "Linux" and platform.machine() == "x86_64":
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--ignore-requires-python", REAL_OPA)
    stamp.write_text(wanted)


def demo(args: list[str]) -> None:
    ensure_venv("")
    os.execv(BIN / "gateway", [str(BIN / "gateway"), "demo", *args])  # noqa: S606 - replaces this process


def test(args: list[str]) -> None:
    ensure_venv("dev")
    run(BIN / "ruff", "check", "gateway", "tests", "bench", "dev.py")
    run(BIN / "ruff", "format", "--check", "gateway", "tests", "bench", "dev.py")
    run(BIN / "mypy", "--strict", "gateway")
    run(BIN / "lint-imports")
    run(BIN / "gateway", "policy", "test")
    run(BIN / "gateway", "catalog", "check")
    run(BIN / "python", "-m", "pytest", *args)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before anything checks the version
        sys.exit("Python 3.11 or newer is required")
    command, *rest = sys.argv[1:] or ["help"]
    if command == "demo":
        demo(rest)
    elif command == "test":
        try:
            test(rest)
        except subprocess.CalledProcessError as exc:
            sys.exit(exc.returncode or 1)
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
