"""Refresh the console's vendored browser assets from the npm registry and record what was taken.

    python scripts/vendor_assets.py            # fetch the pinned versions, rewrite the files and the manifest
    python scripts/vendor_assets.py --check    # only compare the files on disk with the manifest

Each package is fetched with ``npm pack`` (the ordinary npm client, so the registry configured for npm
is the one used), its tarball's integrity is the registry's, and only the files the console serves are
kept. ``manifest.json`` beside them names each package, its version, the tarball's integrity string and
the SHA-256 of every file kept; ``tests/console/test_vendored_assets.py`` checks the files against it.
To move to a newer version, change PACKAGES and run the script.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "gateway" / "console" / "static" / "vendor"
MANIFEST = VENDOR / "manifest.json"

# package -> (version, files inside the tarball's package/ folder)
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "swagger-ui-dist": ("5.35.0", ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE")),
    "redoc": ("2.5.4", ("bundles/redoc.standalone.js", "LICENSE")),
    "axe-core": ("4.14.1", ("axe.min.js", "LICENSE")),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(name: str, version: str, files: tuple[str, ...]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(  # noqa: S603 - fixed arguments, names from PACKAGES
            ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", tmp],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(out.stdout)[0]
        tarball = Path(tmp) / info["filename"]
        data = tarball.read_bytes()
    kept: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for rel in files:
            member = tar.extractfile(f"package/{rel}")
            if member is None:
                raise SystemExit(f"{name}@{version} has no {rel}")
            body = member.read()
            target = VENDOR / name / Path(rel).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            kept[f"{name}/{target.name}"] = sha256(body)
    return {"version": version, "integrity": info["integrity"], "files": kept}


def check() -> list[str]:
    """Problems between the manifest and the files on disk (empty when they agree)."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    problems = []
    listed = set()
    for name, entry in manifest["packages"].items():
        for rel, digest in entry["files"].items():
            listed.add(rel)
            path = VENDOR / rel
            if not path.is_file():
                problems.append(f"{rel}: missing ({name})")
            elif sha256(path.read_bytes()) != digest:
                problems.append(f"{rel}: SHA-256 differs from the manifest ({name})")
    for path in VENDOR.rglob("*"):
        rel = path.relative_to(VENDOR).as_posix()
        if path.is_file() and rel != "manifest.json" and rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not args.check:
        packages = {name: fetch(name, version, files) for name, (version, files) in PACKAGES.items()}
        MANIFEST.write_text(json.dumps({"packages": packages}, indent=2, sort_keys=True) + "\n")
    problems = check()
    for problem in problems:
        print(problem)
    print("vendored assets match the manifest" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
