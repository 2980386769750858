"""OPA mode: the active bundle in OPA's bundle format, signed, and the check that OPA loaded it.

``build_bundle`` writes what OPA's bundle plugin downloads: a gzipped tarball holding every Rego
module (tests left out, as ``opa build`` would serve them), the data files as ``data.json`` at their
directory's path, a ``.manifest`` whose ``revision`` is the gateway's revision of the bundle and
whose ``roots`` claim the whole data tree, and ``.signatures.json``: one compact JWS (ES256) whose
claims list every file with its SHA-256 (``{"files": [{"name", "hash", "algorithm"}], "keyid"}``).
JSON files are hashed over their canonical form (sorted keys, no whitespace), as OPA hashes them;
other files over their bytes.

``RevisionCheckedEngine`` serves decisions from the OPA sidecar only while the revision OPA reports
for the bundle it activated (``POST /v1/data/system/bundles/<name>/manifest/revision``, which OPA
fills from the manifest) equals the revision the gateway's database says is active. Both are read
about once a second on a background thread; a decision asked while they differ, or before both are
known, is refused (PolicyRevisionMismatch), so nothing is decided under a bundle nobody approved.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
import threading
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.adapters.policy.regorus import DATA_FILES, TEST_SUFFIX
from gateway.adapters.yaml_files import load_yaml
from gateway.errors import PolicyEngineError, PolicyRevisionMismatch
from gateway.ports import JSON, PolicyBundleStore

log = logging.getLogger("gateway.policy")
BUNDLE_NAME = "gateway"
OPA_BUNDLE_KEY = "opa_bundle"  # <keys>/private/opa_bundle.pem, a P-256 key (kept out of git like the others)
SIGNING_ALGORITHM = "ES256"


def canonical(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: the form OPA hashes a JSON file in."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def bundle_files(files: Mapping[str, bytes], revision: str) -> dict[str, bytes]:
    """The files of the OPA bundle: modules, data as ``data.json``, and the ``.manifest``."""
    out: dict[str, bytes] = {}
    for rel in sorted(files):
        path = PurePosixPath(rel)
        if rel.endswith(".rego") and not rel.endswith(TEST_SUFFIX):
            out[rel] = files[rel]
        elif path.name in DATA_FILES:
            text = files[rel].decode("utf-8")
            document = json.loads(text) if rel.endswith(".json") else load_yaml(text)
            out[str(path.parent / "data.json")] = canonical(document)
    out[".manifest"] = canonical({"revision": revision, "roots": [""]})
    return out


def file_hash(name: str, content: bytes) -> str:
    """SHA-256 hex of a bundle file as OPA computes it for signatures."""
    if name.endswith(".json") or name == ".manifest":
        content = canonical(json.loads(content))
    return hashlib.sha256(content).hexdigest()


def signatures(files: Mapping[str, bytes], private_key_pem: bytes, keyid: str) -> bytes:
    """``.signatures.json``: one ES256 JWS over the list of files and their hashes."""
    claims = {
        "files": [
            {"name": name, "hash": file_hash(name, files[name]), "algorithm": "SHA-256"}
            for name in sorted(files)
        ],
        "keyid": keyid,
    }
    key = ECKey.import_key(private_key_pem)
    token = jwt.encode({"alg": SIGNING_ALGORITHM, "kid": keyid}, claims, key, algorithms=[SIGNING_ALGORITHM])
    return json.dumps({"signatures": [token]}).encode("utf-8")


def build_bundle(files: Mapping[str, bytes], revision: str, private_key_pem: bytes, keyid: str) -> bytes:
    """The signed bundle as a ``.tar.gz`` (deterministic: fixed times and owners)."""
    content = bundle_files(files, revision)
    content[".signatures.json"] = signatures(content, private_key_pem, keyid)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in sorted(content):
            info = tarfile.TarInfo("/" + name)
            info.size = len(content[name])
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def read_bundle_archive(archive: bytes) -> dict[str, bytes]:
    """The files of a bundle tarball (leading ``/`` removed)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    out[member.name.lstrip("/")] = extracted.read()
    return out


class RevisionCheckedEngine:
    """PolicyEngine over the OPA sidecar that refuses while OPA's loaded revision is not the active one."""

    def __init__(self, inner: Any, *, interval_s: float = 1.0, bundle_name: str = BUNDLE_NAME) -> None:
        self.inner = inner
        self.interval_s = interval_s
        self.bundle_name = bundle_name
        self.expected: str | None = None
        self.reported: str | None = None
        self._store: PolicyBundleStore | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def revision(self) -> str:
        return self.expected or ""

    def reported_revision(self) -> str | None:
        """What OPA says it loaded for the bundle, or None (not loaded, unreachable, not a string)."""
        url = f"{self.inner.url}/v1/data/system/bundles/{self.bundle_name}/manifest/revision"
        try:
            # POST, as for decisions: OPA's Data API reads any document so, the manifest included.
            response = httpx.post(url, json={}, timeout=self.inner.timeout)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return None
        value = body.get("result") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    def refresh(self) -> None:
        """Read both revisions once."""
        if self._store is not None:
            try:
                active = self._store.active()
                self.expected = None if active is None else active[1]
            except Exception:
                self.expected = None
        self.reported = self.reported_revision()

    def start(self, store: PolicyBundleStore) -> None:
        """Read both now, then about every ``interval_s`` on a daemon thread."""
        self._store = store
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="opa-revision-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.refresh()

    def stop(self) -> None:
        """Stop reading; close the inner engine."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def evaluate(self, entrypoint: str, input_document: Mapping[str, JSON]) -> JSON:
        expected, reported = self.expected, self.reported
        if expected is None or reported is None:
            # Unknown is not equal: the store or the sidecar cannot say which bundle would decide.
            raise PolicyEngineError("the active policy revision or the sidecar's cannot be read")
        if reported != expected:
            raise PolicyRevisionMismatch("the policy sidecar has not loaded the active bundle")
        return self.inner.evaluate(entrypoint, input_document)

    def healthy(self) -> bool:
        """Ready only when OPA answers and has loaded the active revision."""
        return bool(self.expected) and self.reported == self.expected and bool(self.inner.healthy())
