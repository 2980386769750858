"""What the query decision itself costs on the embedded engine, against a small RBAC policy.

    .venv/bin/python bench/policy_bench.py [--iterations 5000] [--rounds 5] [--policies DIR]

Both policies are evaluated by the same regorus engine, built by the gateway's own ``RegorusEngine``
from one copy of the policies directory (every module and data file, so the RBAC policy has the same
catalog data loaded), through the same ``evaluate`` call the query service makes: input serialized,
set, the entrypoint queried, the answer parsed. The difference between the two is the price of the
policy's own rules.

The decision input is the one the gateway builds for the query ``gateway demo`` prints (the credit
platform asking for an enterprise's registration and administrative penalties for a licence review),
built with the same functions the query service uses. The RBAC policy answers whether the
requester's department holds the ``query`` permission, from a role table in the policy.

Rounds alternate between the two policies so a burst of load elsewhere on the machine hits both
alike; the figures printed are over every sample of every round: p50 and p99 per decision and the
ratio of the p50s, in wall-clock time and in the evaluating thread's CPU time (the steadier of the
two on a shared machine, where waiting for a core inflates the wall clock).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.policy.regorus import RegorusEngine  # noqa: E402
from gateway.demo.data import demo_manifest  # noqa: E402
from gateway.domain.identifiers import parse_subject  # noqa: E402
from gateway.domain.query import ItemRequest, QuerySpec, build_policy_input  # noqa: E402

DECISION = "gateway.query.decision"
RBAC = "bench.rbac.decision"

RBAC_POLICY = """\
# METADATA
# title: A small role-based policy, the baseline the query decision is measured against
package bench.rbac

roles := {
	"development_reform": {"query"},
	"housing": {"query"},
	"finance": {"query", "grants:write"},
	"audit_office": {"audit:read"},
}

allow if "query" in roles[input.requester.department]

decision := {"allow": allow, "reasons": []} if allow

else := {"allow": false, "reasons": [{"code": "forbidden"}]}
"""


def printed_query_input(catalog_revision: str) -> dict[str, Any]:
    """The decision input for the demo's printed query, as the query service builds it."""
    subject = demo_manifest().legal_person
    spec = QuerySpec(
        purpose="admin_licensing_review",
        legal_basis="admin_licensing_law_31",
        items=(ItemRequest("market.enterprise_registration"), ItemRequest("market.admin_penalty")),
        subjects=(parse_subject(str(subject.id_type), subject.value, today=date(2026, 11, 22)),),
    )
    return build_policy_input(
        spec,
        client_id="credit-platform",
        department="development_reform",
        now=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        catalog_revision=catalog_revision,
        commitments=["5" * 64],
        grant=None,
    )


def sample(
    engine: RegorusEngine, entrypoint: str, document: dict[str, Any], n: int
) -> tuple[list[float], list[float]]:
    """``n`` timings of one evaluation, in microseconds: wall clock, and this thread's CPU time."""
    wall, cpu = [], []
    for _ in range(n):
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        engine.evaluate(entrypoint, document)
        cpu.append((time.thread_time_ns() - started_cpu) / 1000)
        wall.append((time.perf_counter_ns() - started) / 1000)
    return wall, cpu


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=5000, help="evaluations per policy per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        policies = Path(tmp) / "policies"
        shutil.copytree(args.policies, policies, ignore=shutil.ignore_patterns("*_test.rego"))
        (policies / "bench" / "rbac").mkdir(parents=True)
        (policies / "bench" / "rbac" / "rbac.rego").write_text(RBAC_POLICY)
        engine = RegorusEngine(policies)

    revision = engine.evaluate("gateway.catalog.revision", {})
    assert isinstance(revision, str)
    document = printed_query_input(revision)
    decision = engine.evaluate(DECISION, document)
    assert isinstance(decision, dict), decision
    assert decision["allow"] is True, decision
    rbac = engine.evaluate(RBAC, document)
    assert isinstance(rbac, dict), rbac
    assert rbac["allow"] is True, rbac

    warmup = max(1, args.iterations // 10)
    sample(engine, DECISION, document, warmup)
    sample(engine, RBAC, document, warmup)
    timings: dict[str, list[float]] = {DECISION: [], RBAC: []}
    cpu: dict[str, list[float]] = {DECISION: [], RBAC: []}
    for round_no in range(args.rounds):
        order = (DECISION, RBAC) if round_no % 2 == 0 else (RBAC, DECISION)
        for entrypoint in order:
            wall, spent = sample(engine, entrypoint, document, args.iterations)
            timings[entrypoint].extend(wall)
            cpu[entrypoint].extend(spent)
        medians = {e: statistics.median(t[-args.iterations :]) for e, t in timings.items()}
        print(
            f"round {round_no + 1}: decision p50 {medians[DECISION]:8.1f} us   "
            f"rbac p50 {medians[RBAC]:6.1f} us   ratio {medians[DECISION] / medians[RBAC]:5.1f}x"
        )
    print()
    print(f"{'policy':<40} {'p50 us':>9} {'p99 us':>9} {'CPU p50 us':>11}")
    for label, entrypoint in (("query decision (demo's printed query)", DECISION), ("RBAC baseline", RBAC)):
        values = timings[entrypoint]
        print(
            f"{label:<40} {percentile(values, 0.50):9.1f} {percentile(values, 0.99):9.1f}"
            f" {percentile(cpu[entrypoint], 0.50):11.1f}"
        )
    ratio = percentile(timings[DECISION], 0.50) / percentile(timings[RBAC], 0.50)
    cpu_ratio = percentile(cpu[DECISION], 0.50) / percentile(cpu[RBAC], 0.50)
    print(f"{'ratio of the p50s':<40} {ratio:9.1f}x {'':9} {cpu_ratio:10.1f}x")


if __name__ == "__main__":
    main()
