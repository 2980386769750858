"""The vendored browser assets are exactly the files the manifest records (versions and SHA-256)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "gateway" / "console" / "static"
VENDOR = STATIC / "vendor"
TEMPLATES = ROOT / "gateway" / "console" / "templates"


def test_every_vendored_file_matches_the_manifest_and_nothing_else_is_there() -> None:
    manifest = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
    listed = set()
    for name, entry in manifest["packages"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), name
        assert entry["integrity"].startswith("sha512-"), name
        for rel, digest in entry["files"].items():
            listed.add(rel)
            assert hashlib.sha256((VENDOR / rel).read_bytes()).hexdigest() == digest, rel
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == listed
    assert {"swagger-ui-dist", "redoc", "axe-core"} <= set(manifest["packages"])


def test_templates_and_scripts_name_no_other_origin_and_hold_no_inline_script() -> None:
    for path in [*TEMPLATES.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")]:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text, path.name
        assert "https://" not in text, path.name
        # Every <script> loads a file of this origin: the policy forbids inline script anyway.
        for tag in re.findall(r"<script[^>]*>", text):
            assert re.search(r'src="/console/static/', tag), (path.name, tag)
        assert not re.search(r"\son[a-z]+=", text), path.name  # no inline event handlers
