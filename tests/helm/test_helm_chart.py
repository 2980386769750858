"""The Helm chart, rendered without a cluster for every combination of its ``enabled`` flags."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gateway.settings import Settings
from tests.support import helm_chart as hc
from tests.support.helm_chart import ChartRefused, Manifest

Combo = dict[tuple[str, ...], bool]
COMBOS = hc.flag_combinations()


def test_every_enabled_flag_is_combined() -> None:
    flags = {".".join(f) for f in hc.enabled_flags(hc.chart_defaults())}
    assert flags == {
        "witness.enabled",
        "witness.persistence.enabled",
        "postgresql.enabled",
        "postgresql.persistence.enabled",
        "networkPolicy.enabled",
        "podDisruptionBudget.enabled",
        "autoscaling.enabled",
        "serviceMonitor.enabled",
        "dashboard.enabled",
    }
    # witness and postgresql: off, on without persistence, on with it; the five others: off or on
    assert len(COMBOS) == 3 * 3 * 2**5


# --- every combination -------------------------------------------------------------------------


def check_manifests_validate_against_kubernetes_schemas(combo: Combo, manifests: list[Manifest]) -> None:
    assert manifests
    assert hc.schema_errors(manifests) == []


def check_every_pod_and_container_is_restricted(combo: Combo, manifests: list[Manifest]) -> None:
    specs = list(hc.pod_specs(manifests))
    assert specs
    for name, spec in specs:
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, name
        assert isinstance(pod.get("runAsUser"), int), name
        assert pod["runAsUser"] > 0, name
        assert pod.get("runAsGroup", 1) > 0, name
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        assert spec.get("automountServiceAccountToken") is False, name
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host_namespace), (name, host_namespace)
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, (name, volume["name"])
        for container in hc.containers(spec):
            where = f"{name} container {container['name']}"
            ctx = container.get("securityContext", {})
            assert ctx.get("runAsNonRoot") is True, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("privileged", False) is False, where
            assert ctx.get("capabilities") == {"drop": ["ALL"]}, where
            assert ctx.get("seccompProfile") == {"type": "RuntimeDefault"}, where
            assert ctx.get("runAsUser", 1) > 0, where


SENSITIVE_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|URL|DSN|CREDENTIAL", re.IGNORECASE)
SECRET_LOOKING = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # a URL with user:password
    re.compile(r"\$scrypt\$|scrypt:"),  # a client secret hash
]


def check_no_secret_value_is_inlined(combo: Combo, manifests: list[Manifest]) -> None:
    # The chart never creates a Secret: each is an existing one, referenced by name.
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"] == []
    text = json.dumps(manifests, ensure_ascii=False)
    for pattern in SECRET_LOOKING:
        assert not pattern.search(text), pattern.pattern
    for name, spec in hc.pod_specs(manifests):
        for container in hc.containers(spec):
            for env in container.get("env", []):
                if SENSITIVE_NAME.search(env["name"]):
                    assert "value" not in env, f"{name} {container['name']} {env['name']} is inlined"
                    assert "secretKeyRef" in env["valueFrom"], f"{name} {env['name']} not from a Secret"
            assert "envFrom" not in container or all("configMapRef" not in e for e in container["envFrom"])


def _image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def check_no_image_is_latest_or_untagged(combo: Combo, manifests: list[Manifest]) -> None:
    images = [c["image"] for _, spec in hc.pod_specs(manifests) for c in hc.containers(spec)]
    assert images
    for image in images:
        tag = _image_tag(image)
        assert tag, f"{image} has no tag"
        assert tag != "latest", image


def check_policy_engine_and_ledger_are_always_on(combo: Combo, manifests: list[Manifest]) -> None:
    (deployment,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "cg-credit-gateway"
    ]
    pod = deployment["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in pod["containers"]}
    opa = by_name["opa"]
    assert "--addr=127.0.0.1:8181" in opa["args"]  # the Data API never leaves the pod
    gateway = by_name["gateway"]
    assert gateway["args"][0] == "serve"
    env = {e["name"]: e for e in gateway["env"]}
    assert env["GATEWAY_LEDGER_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "credit-gateway-database",
        "key": "url",
    }
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # /metrics on its own port, the one the ServiceMonitor and the NetworkPolicy name.
    assert gateway["args"][gateway["args"].index("--metrics-port") + 1] == "9464"
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in gateway["ports"]
    config = _gateway_config(manifests, "cg-credit-gateway")
    assert config["policy_engine"] == "opa"
    assert config["opa_url"] == "http://127.0.0.1:8181"
    assert config["environment"] == "production"
    assert "ledger_url" not in config  # from the Secret, never from a ConfigMap


def check_gateway_config_is_accepted_by_the_gateway(combo: Combo, manifests: list[Manifest]) -> None:
    """The rendered gateway.yaml is read by the gateway's own Settings (unknown keys are refused)."""
    for name in ("cg-credit-gateway", "cg-credit-gateway-migrations"):
        config = _gateway_config(manifests, name)
        settings = Settings(**config, ledger_url="postgresql+psycopg://gateway@db.example/gateway")
        assert settings.policy_engine == "opa"
        assert str(settings.policies_dir) == "/policies"


def check_migrations_run_before_the_gateway(combo: Combo, manifests: list[Manifest]) -> None:
    (job,) = hc.find(manifests, "Job")
    hooks = set(job["metadata"]["annotations"]["helm.sh/hook"].split(","))
    if combo[("postgresql", "enabled")]:
        assert hooks == {"post-install", "pre-upgrade"}  # the in-chart database only exists after install
    else:
        assert hooks == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade", "--config", "/etc/credit-gateway/config/gateway.yaml"]
    # its ConfigMap is a hook too, created before it (regular resources do not exist at pre-install)
    (config,) = [m for m in hc.find(manifests, "ConfigMap", "-migrations")]
    assert config["metadata"]["annotations"]["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_network_policy_denies_by_default(combo: Combo, manifests: list[Manifest]) -> None:
    policies = hc.find(manifests, "NetworkPolicy")
    if not combo[("networkPolicy", "enabled")]:
        assert policies == []
        return
    (deny,) = [p for p in policies if p["metadata"]["name"].endswith("-default-deny")]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    selector = deny["spec"]["podSelector"]["matchLabels"]
    for name, meta in hc.pod_templates(manifests):
        labels = meta["labels"]
        assert _matches(selector, labels), f"{name} escapes the default deny"
        allowing = [
            p for p in policies if p is not deny and _matches(p["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert allowing, f"{name} has no allowance at all"
    gateway_policy = next(p for p in policies if p["metadata"]["name"] == "cg-credit-gateway-gateway")
    egress_ports = {
        port["port"] for rule in gateway_policy["spec"]["egress"] for port in rule.get("ports", [])
    }
    assert 53 in egress_ports
    assert 5432 in egress_ports
    if combo[("witness", "enabled")]:
        assert 8080 in egress_ports
    assert gateway_policy["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    # The metrics port is open to the scrapers only (by default: pods of the release's namespace).
    assert gateway_policy["spec"]["ingress"][1] == {
        "ports": [{"port": "metrics", "protocol": "TCP"}],
        "from": [{"podSelector": {}}],
    }


def check_disruption_budget_and_autoscaler_target_the_gateway(
    combo: Combo, manifests: list[Manifest]
) -> None:
    (deployment,) = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "cg-credit-gateway"
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdbs = hc.find(manifests, "PodDisruptionBudget")
    assert len(pdbs) == int(combo[("podDisruptionBudget", "enabled")])
    for pdb in pdbs:
        assert _matches(pdb["spec"]["selector"]["matchLabels"], labels)
    hpas = hc.find(manifests, "HorizontalPodAutoscaler")
    assert len(hpas) == int(combo[("autoscaling", "enabled")])
    if hpas:
        assert hpas[0]["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "cg-credit-gateway",
        }
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count
    else:
        assert deployment["spec"]["replicas"] == 2
    monitors = hc.find(manifests, "ServiceMonitor")
    assert len(monitors) == int(combo[("serviceMonitor", "enabled")])
    for monitor in monitors:
        assert monitor["spec"]["endpoints"] == [
            {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
        ]


def check_optional_parts_appear_only_when_enabled(combo: Combo, manifests: list[Manifest]) -> None:
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert (("Deployment", "cg-credit-gateway-witness") in names) == combo[("witness", "enabled")]
    assert (("PersistentVolumeClaim", "cg-credit-gateway-witness") in names) == (
        combo[("witness", "enabled")] and combo[("witness", "persistence", "enabled")]
    )
    statefulsets = hc.find(manifests, "StatefulSet")
    assert len(statefulsets) == int(combo[("postgresql", "enabled")])
    for sts in statefulsets:
        assert (
            bool(sts["spec"].get("volumeClaimTemplates")) == combo[("postgresql", "persistence", "enabled")]
        )
    assert (("ConfigMap", "cg-credit-gateway-dashboard") in names) == combo[("dashboard", "enabled")]


def _checks() -> list[Callable[[Combo, list[Manifest]], None]]:
    return [f for name, f in sorted(globals().items()) if name.startswith("check_") and callable(f)]


@pytest.mark.parametrize("combo", COMBOS, ids=[hc.combo_id(c) for c in COMBOS])
def test_combination(combo: Combo) -> None:
    """Render one combination and run every check on it, reporting each check that fails.

    One test per combination rather than per check and combination: the checks share one rendering,
    and ten times as many test items would cost more in pytest than the checks themselves.
    """
    manifests = hc.render(hc.values_for(combo))
    failures: list[str] = []
    for check in _checks():
        try:
            check(combo, manifests)
        except AssertionError as exc:
            failures.append(f"{check.__name__}: {exc}")
    assert failures == []


def test_every_check_runs() -> None:
    assert len(_checks()) == 10


def _gateway_config(manifests: list[Manifest], name: str) -> dict[str, Any]:
    (cm,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == name]
    loaded: dict[str, Any] = hc.load_yaml(cm["data"]["gateway.yaml"])
    return loaded


# --- values and schema -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"replicas": 3}, "replicas"),
        ({"gateway": {"replica": 3}}, "replica"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"opa": {"image": {"tag": "latest"}}}, "/opa/image/tag"),
        ({"gateway": {"replicaCount": "two"}}, "/gateway/replicaCount"),
        ({"config": {"issuer": "http://gateway.example"}}, "/config/issuer"),
        ({"config": {"textScanner": "none"}}, "/config/textScanner"),
        ({"config": {"extra": {"policy_engine": "regorus"}}}, "policy_engine"),
        ({"config": {"extra": {"ledger_url": "sqlite:///:memory:"}}}, "ledger_url"),
        ({"database": {"password": "hunter2"}}, "password"),
        ({"opa": {"enabled": False}}, "enabled"),
        ({"policyEngine": {"enabled": False}}, "policyEngine"),
        ({"podSecurity": {"runAsUser": 0}}, "/podSecurity/runAsUser"),
    ],
)
def test_values_outside_the_schema_are_refused(override: dict[str, Any], expected: str) -> None:
    with pytest.raises(ChartRefused, match=re.escape(expected)):
        hc.render(hc.deep_merge(hc.operator_values(), override))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("database", "existingSecret"), "database.existingSecret is required"),
        (("sources", "existingSecret"), "sources.existingSecret is required"),
        (("keys", "existingSecret"), "keys.existingSecret is required"),
        (("clients", "existingSecret"), "clients.existingSecret is required"),
        (("config", "issuer"), "config.issuer is required"),
        (("config", "ledgerOrigin"), "config.ledgerOrigin is required"),
        (("witness", "keys", "existingSecret"), "witness.keys.existingSecret is required"),
        (("witness", "vkey"), "witness.vkey is required"),
    ],
)
def test_required_values_are_named_when_missing(path: tuple[str, ...], message: str) -> None:
    with pytest.raises(ChartRefused, match=re.escape(message)):
        hc.render(hc.set_path(hc.operator_values(), path, ""))


def test_trial_postgresql_needs_its_password_secret() -> None:
    values = hc.set_path(hc.operator_values(), ("postgresql", "enabled"), True)
    values = hc.set_path(values, ("postgresql", "auth", "existingSecret"), "")
    with pytest.raises(ChartRefused, match=re.escape("postgresql.auth.existingSecret is required")):
        hc.render(values)


def test_image_tag_defaults_to_app_version() -> None:
    manifests = hc.render(hc.operator_values())
    chart = yaml.safe_load((hc.CHART / "Chart.yaml").read_text(encoding="utf-8"))
    images = {c["image"] for _, spec in hc.pod_specs(manifests) for c in hc.containers(spec)}
    assert f"credit-gateway:{chart['appVersion']}" in images
    pinned = hc.render(hc.set_path(hc.operator_values(), ("image", "tag"), "0.1.0-rc.1"))
    assert "credit-gateway:0.1.0-rc.1" in {
        c["image"] for _, s in hc.pod_specs(pinned) for c in hc.containers(s)
    }


def test_policies_from_a_config_map() -> None:
    values = hc.deep_merge(
        hc.operator_values(),
        {
            "policies": {
                "existingConfigMap": "gateway-policies",
                "items": [
                    {"key": "query.rego", "path": "gateway/query.rego"},
                    {"key": "national.yaml", "path": "catalog/national/data.yaml"},
                ],
            }
        },
    )
    manifests = hc.render(values)
    assert hc.schema_errors(manifests) == []
    (deployment,) = [
        m for m in manifests if m["metadata"]["name"] == "cg-credit-gateway" and m["kind"] == "Deployment"
    ]
    pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod  # nothing to copy from the image
    (volume,) = [v for v in pod["volumes"] if v["name"] == "policies"]
    assert volume["configMap"]["name"] == "gateway-policies"
    assert volume["configMap"]["items"][1]["path"] == "catalog/national/data.yaml"


def test_extra_settings_reach_the_gateway_config() -> None:
    values = hc.set_path(hc.operator_values(), ("config", "extra"), {"max_subjects_note": "x"})
    manifests = hc.render(values)
    assert _gateway_config(manifests, "cg-credit-gateway")["max_subjects_note"] == "x"


def test_external_issuers_are_rendered_and_open_https_egress() -> None:
    issuer = {
        "issuer": "https://idp.example",
        "jwksUrl": "https://idp.example/jwks",
        "audience": "credit-gateway",
    }
    manifests = hc.render(hc.set_path(hc.operator_values(), ("config", "externalIssuers"), [issuer]))
    config = _gateway_config(manifests, "cg-credit-gateway")
    settings = Settings(**config)
    assert settings.external_issuers[0].jwks_url == "https://idp.example/jwks"
    assert settings.external_issuers[0].department_claim == "department"
    policy = next(m for m in manifests if m["metadata"]["name"] == "cg-credit-gateway-gateway")
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in policy["spec"]["egress"]


def test_chart_lints_clean() -> None:
    assert hc.lint(hc.operator_values()) == []


def test_schema_and_values_describe_the_same_keys() -> None:
    schema = json.loads((hc.CHART / "values.schema.json").read_text(encoding="utf-8"))

    def paths(node: dict[str, Any], prefix: str = "") -> set[str]:
        found: set[str] = set()
        for key, sub in node.get("properties", {}).items():
            found.add(prefix + key)
            if sub.get("additionalProperties") is False:
                found |= paths(sub, prefix + key + ".")
        return found

    def value_paths(node: dict[str, Any], schema_node: dict[str, Any], prefix: str = "") -> set[str]:
        found: set[str] = set()
        for key, sub in node.items():
            found.add(prefix + key)
            sub_schema = schema_node.get("properties", {}).get(key, {})
            if isinstance(sub, dict) and sub_schema.get("additionalProperties") is False:
                found |= value_paths(sub, sub_schema, prefix + key + ".")
        return found

    assert paths(schema) - {"global"} == value_paths(hc.chart_defaults(), schema)


_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


def test_every_value_is_commented() -> None:
    """Each leaf value has a "# --" comment right above it (helm-docs style).

    A key with nested keys is a group and needs none, unless it is documented as one value itself
    ("# --" above it), in which case what is inside is that value's content.
    """
    lines = (hc.CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    missing: list[str] = []
    documented_until: int | None = None  # indentation of a documented value whose body we are in
    for number, line in enumerate(lines):
        match = _KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        if documented_until is not None:
            if indent > documented_until:
                continue
            documented_until = None
        above = lines[number - 1].strip() if number else ""
        is_group = not match["rest"].strip() and number + 1 < len(lines)
        if above.startswith("#") and _comment_block_is_doc(lines, number):
            if is_group:
                documented_until = indent
            continue
        if not is_group:
            missing.append(f"line {number + 1}: {match['key']}")
    assert missing == []


def _comment_block_is_doc(lines: list[str], number: int) -> bool:
    """Whether the comment block ending right above ``number`` starts with "# --"."""
    start = number - 1
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1
    return lines[start].strip().startswith("# --")


# --- dashboard ---------------------------------------------------------------------------------

METRICS = {
    "gateway_requests_total": {"route", "status"},
    "gateway_queries_total": {"department", "purpose", "decision", "reason"},
    "gateway_stage_seconds": {"stage"},
    "gateway_ledger_size": set(),
    "gateway_checkpoint_age_seconds": set(),
    "gateway_witness_cosignature_age_seconds": set(),
    "gateway_token_throttled_total": {"reason"},
    "gateway_policy_revision_info": {"revision"},
}
SCRAPE_LABELS = {"job", "instance", "le"}
DASHBOARD = hc.CHART / "dashboards" / "gateway.json"


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_charts_every_metric_and_only_known_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = _expressions(dashboard)
    assert exprs
    used = {name for e in exprs for name in re.findall(r"\bgateway_[a-z_]+", e)}
    base = {
        re.sub(r"_(bucket|sum|count)$", "", n) if n.startswith("gateway_stage_seconds") else n for n in used
    }
    assert base == set(METRICS), base ^ set(METRICS)
    for expr in exprs:
        labels = {lab.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for lab in group.split(",")}
        labels |= set(re.findall(r"[{,]\s*([a-z_]+)\s*(?:=~|!~|!=|=)", expr))
        metric_labels = set().union(*(METRICS[m] for m in METRICS if m in expr))
        assert labels <= metric_labels | SCRAPE_LABELS, (expr, labels - metric_labels - SCRAPE_LABELS)
    stage_panels = [e for e in exprs if "gateway_stage_seconds_bucket" in e]
    assert stage_panels
    assert all("histogram_quantile" in e and "le" in e for e in stage_panels)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_config_map_ships_the_file_unchanged() -> None:
    manifests = hc.render(hc.set_path(hc.operator_values(), ("dashboard", "enabled"), True))
    (cm,) = [m for m in manifests if m["metadata"]["name"] == "cg-credit-gateway-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["credit-gateway.json"]) == json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_witness_and_the_gateway_are_configured_for_each_other() -> None:
    from gateway.domain.transparency.witness import parse_vkey
    from gateway.settings import Settings, WitnessServerSettings

    values = hc.operator_values()
    maps = {m["metadata"]["name"]: m for m in hc.render(values) if m["kind"] == "ConfigMap"}
    witness = WitnessServerSettings(
        **yaml.safe_load(maps["cg-credit-gateway-witness"]["data"]["witness.yaml"])
    )
    # It witnesses this release's ledger, whose public key its Secret holds beside its own key.
    assert [(log.origin, str(log.public_key)) for log in witness.logs] == [
        (values["config"]["ledgerOrigin"], "ledger.pub.pem")
    ]
    gateway = Settings(**yaml.safe_load(maps["cg-credit-gateway"]["data"]["gateway.yaml"]))
    (submitted,) = gateway.witnesses
    assert submitted.url == "http://cg-credit-gateway-witness:8080"
    assert parse_vkey(submitted.vkey)[0] == witness.name == "witness.credit-gateway.example/w1"
    without = hc.render(hc.deep_merge(values, {"witness": {"enabled": False}}))
    config = next(
        m for m in without if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "cg-credit-gateway"
    )
    assert "witnesses" not in yaml.safe_load(config["data"]["gateway.yaml"])
