"""Render the Helm chart without a cluster, and validate what comes out.

Rendering uses a real ``helm`` binary when one is on the PATH (``helm template``), and otherwise Helm's
own Go SDK through ``helm-python-sdk``: the same template engine, values coalescing and
``values.schema.json`` validation either way. Validation uses the Kubernetes OpenAPI schemas that
``kubernetes-validate`` ships, in strict mode (unknown fields are errors), for the newest Kubernetes
version it knows.
"""

from __future__ import annotations

import functools
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "credit-gateway"
OPERATOR_VALUES = ROOT / "tests" / "helm" / "operator-values.yaml"
RELEASE = "cg"
NAMESPACE = "credit"

Manifest = dict[str, Any]
# libyaml's loader when PyYAML has it: rendering every flag combination means parsing a lot of YAML.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ChartRefused(Exception):
    """Helm refused to render: a schema violation, a required value missing, or a template ``fail``."""


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a safe loader


def operator_values() -> dict[str, Any]:
    """The values an operator must set; every other value keeps the chart's default."""
    loaded: dict[str, Any] = yaml.safe_load(OPERATOR_VALUES.read_text(encoding="utf-8"))
    return loaded


def chart_defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return loaded


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def set_path(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``values`` with ``value`` at ``path``, creating the maps on the way."""
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    return deep_merge(values, nested)


def enabled_flags(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every ``enabled`` key in the chart's values, as paths, parents before their children."""
    found: list[tuple[str, ...]] = []
    for key, value in values.items():
        if key == "enabled" and isinstance(value, bool):
            found.append((*prefix, key))
    for key, value in values.items():
        if isinstance(value, Mapping):
            found.extend(enabled_flags(value, (*prefix, key)))
    return found


def flag_combinations() -> list[dict[tuple[str, ...], bool]]:
    """Every distinct combination of the ``enabled`` flags.

    A flag below a disabled part (``witness.persistence.enabled`` with the witness off) changes
    nothing, so those duplicates are dropped: what is left is every combination that can differ.
    """
    flags = enabled_flags(chart_defaults())
    combos: list[dict[tuple[str, ...], bool]] = []
    for states in itertools.product((False, True), repeat=len(flags)):
        combo = dict(zip(flags, states, strict=True))
        redundant = any(
            state and not combo[parent]
            for flag, state in combo.items()
            for parent in flags
            if parent != flag and flag[: len(parent) - 1] == parent[:-1] and len(flag) > len(parent)
        )
        if not redundant:
            combos.append(combo)
    return combos


def combo_id(combo: Mapping[tuple[str, ...], bool]) -> str:
    on = [".".join(flag[:-1]) for flag, state in combo.items() if state]
    return "+".join(on) or "all-off"


def values_for(combo: Mapping[tuple[str, ...], bool]) -> dict[str, Any]:
    values = operator_values()
    for flag, state in combo.items():
        values = set_path(values, flag, state)
    return values


def _helm_binary() -> str | None:
    return shutil.which("helm")


def renderer_name() -> str:
    return "helm binary" if _helm_binary() else "helm-python-sdk"


def _split(rendered: Mapping[str, str]) -> list[Manifest]:
    docs: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt and partials are not manifests
        for doc in yaml.load_all(text, Loader=_Loader):
            if doc:
                docs.append(doc)
    return docs


def render(values: Mapping[str, Any]) -> list[Manifest]:
    """Every manifest the chart renders for ``values`` (hooks included), as an install would."""
    helm = _helm_binary()
    if helm:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8") as fh:
            yaml.safe_dump(dict(values), fh)
            fh.flush()
            proc = subprocess.run(
                [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", fh.name],
                capture_output=True,
                text=True,
                check=False,
            )
        if proc.returncode != 0:
            raise ChartRefused(proc.stderr)
        return [doc for doc in yaml.load_all(proc.stdout, Loader=_Loader) if doc]
    import helm_python

    with helm_python.Chart.load(CHART) as chart:
        try:
            rendered = chart.render(dict(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm_python.HelmError as exc:
            raise ChartRefused(str(exc)) from exc
    return _split(rendered)


def lint(values: Mapping[str, Any]) -> list[str]:
    """Helm's lint findings of warning severity or worse."""
    helm = _helm_binary()
    if helm:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8") as fh:
            yaml.safe_dump(dict(values), fh)
            fh.flush()
            proc = subprocess.run(
                [helm, "lint", "--strict", str(CHART), "--values", fh.name],
                capture_output=True,
                text=True,
                check=False,
            )
        return [] if proc.returncode == 0 else [proc.stdout + proc.stderr]
    import helm_python

    report = helm_python.lint(CHART, dict(values), strict=True)
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2] + list(
        report["errors"]
    )


KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()

# The Prometheus Operator's CRD is not among Kubernetes' own schemas; this is the part of its
# ServiceMonitor schema the chart uses, strict like the others so a misspelt field still fails.
_SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}


@functools.lru_cache(maxsize=4096)
def _validate_cached(canonical: str) -> str | None:
    manifest = json.loads(canonical)
    try:
        if manifest.get("apiVersion") == "monitoring.coreos.com/v1":
            jsonschema.validate(manifest, _SERVICE_MONITOR_SCHEMA)
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except (jsonschema.ValidationError, kubernetes_validate.utils.SchemaNotFoundError) as exc:
        return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}: {exc}"
    return None


def schema_errors(manifests: list[Manifest]) -> list[str]:
    """What the Kubernetes schemas say is wrong with each manifest (nothing, when all is well).

    The same manifest recurs across many flag combinations, so each distinct one is checked once.
    """
    found = (_validate_cached(json.dumps(m, sort_keys=True)) for m in manifests)
    return [error for error in found if error]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(workload name, pod spec) of every Deployment, StatefulSet, Job, DaemonSet and bare Pod."""
    for m in manifests:
        kind = m["kind"]
        name = f"{kind}/{m['metadata']['name']}"
        if kind == "Pod":
            yield name, m["spec"]
        elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            yield name, m["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield name, m["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(workload name, pod template metadata) of every workload."""
    for m in manifests:
        if m["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["metadata"]


def containers(spec: Manifest) -> Iterator[Manifest]:
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])
    yield from spec.get("ephemeralContainers", [])


def find(manifests: list[Manifest], kind: str, name_suffix: str = "") -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(name_suffix)]
