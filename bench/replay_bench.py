"""How fast a draft replays kept decisions: decisions per second over every core.

    .venv/bin/python bench/replay_bench.py [--decisions 10000] [--processes N]

The kept inputs are the ones the query service keeps: ``build_policy_input`` for a mix of the demo's
departments, purposes and items (one subject each, a keyed commitment in place of its identifier),
canonicalized by ``kept_input``. The draft is the deployed policies with ``tax.credit_rating`` shared
with the housing department, so some decisions change. One replayed decision is the input evaluated
on both bundles and classified; the time printed is the whole ``PolicyWorkbenchLab.replay`` call
(processes spawned, engines built in each, every chunk evaluated) plus the summary.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.policy.catalog_files import load_catalog  # noqa: E402
from gateway.adapters.policy.regorus import RegorusEngine  # noqa: E402
from gateway.adapters.policy.workbench import PolicyWorkbenchLab, read_bundle  # noqa: E402
from gateway.demo.data import demo_manifest  # noqa: E402
from gateway.domain.identifiers import parse_subject  # noqa: E402
from gateway.domain.policy_bundle import kept_input, summarize  # noqa: E402
from gateway.domain.query import ItemRequest, QuerySpec, build_policy_input  # noqa: E402

CATALOG = "catalog/national/data.yaml"
LINE = (
    b"      departments: [development_reform, finance, public_resources, market_regulation, credit_platform]"
)
DEPARTMENTS = ("development_reform", "housing", "finance", "public_resources", "taxation", "court")
PURPOSES = ("admin_licensing_review", "public_procurement_review", "credit_supervision", "credit_evaluation")
ITEMS = ("market.admin_penalty", "court.dishonest_debtor", "tax.credit_rating", "tax.major_violation")


def inputs(n: int, catalog_revision: str) -> list[tuple[int, str]]:
    subject = demo_manifest().legal_person
    parsed = parse_subject(str(subject.id_type), subject.value, today=date(2026, 11, 22))
    mix = itertools.cycle(itertools.product(DEPARTMENTS, PURPOSES, ITEMS))
    # Each purpose's first legal basis, by its catalog code (a query cites a code, clause (14)).
    purposes = load_catalog(ROOT / "policies").purposes
    bases = {p: next(iter(purposes[p]["legal_bases"])) for p in PURPOSES}
    out = []
    for i in range(n):
        department, purpose, item = next(mix)
        spec = QuerySpec(purpose, bases[purpose], (ItemRequest(item),), (parsed,))
        document = build_policy_input(
            spec,
            client_id=f"{department}-app",
            department=department,
            now=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
            catalog_revision=catalog_revision,
            commitments=[f"{i:064x}"],
            grant=None,
        )
        out.append((i, kept_input(document)[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    base = read_bundle(ROOT / "policies")
    draft = dict(base)
    draft[CATALOG] = base[CATALOG].replace(
        LINE, LINE.replace(b"[development_reform,", b"[development_reform, housing,")
    )
    catalog_revision = RegorusEngine(ROOT / "policies").evaluate("gateway.catalog.revision", {})
    kept = inputs(args.decisions, str(catalog_revision))
    lab = PolicyWorkbenchLab(args.processes)
    started = time.perf_counter()
    replayed = lab.replay(base, draft, kept)
    summary = summarize(replayed, base_revision="base", draft_revision="draft")
    elapsed = time.perf_counter() - started
    print(
        f"{summary.total} decisions replayed on {lab.processes} process(es) in {elapsed:.2f} s: "
        f"{summary.total / elapsed:,.0f} decisions/s "
        f"(unchanged {summary.unchanged}, changed {summary.changed}, errors {summary.errors}, "
        f"deny_to_allow {len(summary.by_kind['deny_to_allow'])})"
    )


if __name__ == "__main__":
    main()
