"""The domain is pure: importing every module of ``gateway.domain`` loads no I/O library or framework."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import gateway.domain

FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "httpx",
    "presidio_analyzer",
    "authlib",
    "joserfc",
    "cryptography",
    "regorus",
    "yaml",
    "rich",
    "gateway.adapters",
    "gateway.services",
    "gateway.api",
)


def test_domain_modules_import_no_io_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages(gateway.domain.__path__, "gateway.domain.")]
    assert len(modules) > 10
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
