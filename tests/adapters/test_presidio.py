"""Presidio recognizers for Chinese identifiers on the no-op NLP engine."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import spacy.cli
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NoOpNlpEngine

from gateway.adapters.presidio import (
    RECOGNIZERS,
    BankCardRecognizer,
    PresidioScanner,
    ResidentIdRecognizer,
    build_analyzer,
    to_finding,
)
from gateway.domain.desensitize.text_scan import (
    MAX_SCORE,
    Entity,
    FastScanner,
    Finding,
    complete,
    find_entities,
)
from gateway.domain.detector import normalize_mapped
from tests.support.pii import (
    bank_card,
    bank_card_corruptions,
    free_text,
    mobile,
    resident_id,
    resident_id_corruptions,
    uscc,
    uscc_corruptions,
)


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return build_analyzer()


def _by_span(results: list[Finding]) -> dict[tuple[int, int], dict[Entity, Finding]]:
    out: dict[tuple[int, int], dict[Entity, Finding]] = {}
    for f in results:
        out.setdefault((f.start, f.end), {})[f.entity] = f
    return out


def test_the_analyzer_runs_on_the_no_op_engine_with_only_our_recognizers(analyzer: AnalyzerEngine) -> None:
    assert isinstance(analyzer.nlp_engine, NoOpNlpEngine)
    assert sorted(analyzer.supported_languages) == ["en", "zh"]
    for language in ("zh", "en"):
        names = {type(r) for r in analyzer.get_recognizers(language)}
        assert names == set(RECOGNIZERS)
    assert set(analyzer.get_supported_entities("zh")) == {e.value for e in Entity}


def test_building_the_analyzer_never_downloads_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a spaCy model download was attempted")

    monkeypatch.setattr(spacy.cli, "download", refuse)
    scanner = PresidioScanner(build_analyzer())
    assert scanner.scan("手机13812345678")


def test_importing_and_building_emits_no_warning() -> None:
    code = (
        "from gateway.adapters.presidio import PresidioScanner\n"
        "assert PresidioScanner().scan('身份证号11010519900307123X') is not None\n"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_valid_identifiers_score_one_inside_chinese_text(analyzer: AnalyzerEngine) -> None:
    rng = random.Random(1)
    scanner = PresidioScanner(analyzer)
    for _ in range(100):
        rid, ib, card, phone = resident_id(rng), uscc(rng, "92"), bank_card(rng), mobile(rng)
        text = f"当事人身份证号{rid}个体户{ib}银行卡{card}手机{phone}。"
        spans = _by_span(scanner.scan(text))
        for value, entity in (
            (rid, Entity.RESIDENT_ID),
            (ib, Entity.INDIVIDUAL_BUSINESS),
            (card, Entity.BANK_CARD),
            (phone, Entity.MOBILE),
        ):
            start = text.index(value)
            found = spans[(start, start + len(value))][entity]
            assert found.valid
            assert found.score == MAX_SCORE


def test_corrupted_identifiers_are_kept_at_a_lower_score(analyzer: AnalyzerEngine) -> None:
    rng = random.Random(2)
    cases = [
        (resident_id_corruptions(resident_id(rng)), Entity.RESIDENT_ID),
        (uscc_corruptions(uscc(rng, "92")), None),
        (bank_card_corruptions(bank_card(rng)), Entity.BANK_CARD),
    ]
    for corruptions, entity in cases:
        for bad in corruptions:
            text = f"编号：{bad}。"
            results = analyzer.analyze(text, language="zh")
            at_span = [r for r in results if (r.start, r.end) == (3, 3 + len(bad))]
            personal = [r for r in at_span if r.entity_type != Entity.USCC.value or r.score < MAX_SCORE]
            assert personal, bad  # still personal data
            if entity is not None:
                own = [r for r in at_span if r.entity_type == entity.value]
                assert own, bad
                assert own[0].score < MAX_SCORE


def test_validate_result_never_rejects() -> None:
    assert ResidentIdRecognizer().validate_result("110105199003071230") is None
    assert BankCardRecognizer().validate_result("6222021234567890120") in (True, None)


def test_context_words_work_in_chinese_and_english(analyzer: AnalyzerEngine) -> None:
    scanner = PresidioScanner(analyzer, language="en")
    bad = "110105199003071230"
    plain = _by_span(scanner.scan(f"No. {bad}"))[(4, 22)][Entity.RESIDENT_ID].score
    english = _by_span(scanner.scan(f"ID card {bad}"))[(8, 26)][Entity.RESIDENT_ID].score
    chinese = _by_span(PresidioScanner(analyzer).scan(f"身份证{bad}"))[(3, 21)][Entity.RESIDENT_ID].score
    assert plain < english == chinese


@pytest.mark.parametrize("language", ["zh", "en"])
def test_presidio_and_the_fast_scanner_report_identical_findings(
    analyzer: AnalyzerEngine, language: str
) -> None:
    rng = random.Random(3)
    presidio, fast = PresidioScanner(analyzer, language=language), FastScanner()
    texts = [free_text(rng, candidates=rng.randrange(0, 5)) for _ in range(400)]
    compared = 0
    for text in texts:
        expected = sorted(fast.scan(text))
        assert sorted(presidio.scan(text)) == expected, text
        compared += len(expected)
    assert compared > 500  # the corpus really exercises the recognizers


def test_stock_analyze_call_agrees_too(analyzer: AnalyzerEngine) -> None:
    rng = random.Random(4)
    for _ in range(100):
        text = free_text(rng, candidates=3)
        # Both read the normalized view and add the same window findings (see text_scan.complete).
        normalized = normalize_mapped(text)
        stock = sorted(
            f._replace(valid=False)
            for f in complete(
                normalized,
                (to_finding(normalized.text, r) for r in analyzer.analyze(normalized.text, language="zh")),
            )
        )
        ours = sorted(f._replace(valid=False) for f in find_entities(text))
        assert stock == ours, text
