"""Presidio recognizers for Chinese identifiers, and a scanner on Presidio's analyzer.

The recognizers are ``PatternRecognizer`` subclasses built from
``gateway.domain.desensitize.text_scan.ENTITY_RULES``. The analyzer reads the same normalized view of a
text as the fast scanner (``gateway.domain.detector.normalize_mapped``: NFKC, upper case, separators next
to digits dropped) and its results are mapped back to the original spans the same way, with
the same patterns (fenced by lookarounds, since ``\\b`` finds no boundary inside Chinese text), the same
checksums in ``validate_result`` and the same context words, so the analyzer and the standard-library
``FastScanner`` report identical findings (the tests and ``bench/desensitize_bench.py`` assert it).

Departures from Presidio's defaults, and why:

* ``validate_result`` answers True (checksum holds: score 1.0) or None (keep the pattern's base score),
  never False: a candidate that fails its checksum is still personal data, only less certain.
* Patterns are compiled without IGNORECASE (Presidio's default flag): identifier alphabets are
  upper-case and an e-mail pattern spells out both cases.
* Context words are matched by ``enhance_using_context`` as substrings of the characters just before a
  candidate. Presidio's lemma-based enhancer needs tokens, which the ``no_op`` NLP engine does not
  produce and which Chinese text without spaces would not give anyway; each result is flagged as
  context-enhanced so that enhancer leaves it alone.

The analyzer runs on Presidio's ``no_op`` NLP engine: no spaCy model is loaded or downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider

from gateway.domain.desensitize.text_scan import (
    RULES_BY_ENTITY,
    Entity,
    EntityRule,
    Finding,
    complete,
    has_candidate,
)
from gateway.domain.detector import normalize_mapped

LANGUAGES = ("zh", "en")
# The same bits in the stdlib ``re`` and the ``regex`` module Presidio compiles with.
_FLAGS = re.DOTALL | re.MULTILINE


class ChineseEntityRecognizer(PatternRecognizer):
    """A pattern recognizer driven by one ``EntityRule``; subclasses only name their rule."""

    RULE: ClassVar[EntityRule]

    def __init__(self, supported_language: str = "zh") -> None:
        rule = self.RULE
        super().__init__(
            supported_entity=rule.entity.value,
            name=type(self).__name__,
            supported_language=supported_language,
            patterns=[Pattern(p.name, p.regex, p.score) for p in rule.patterns],
            context=list(rule.context),
            global_regex_flags=_FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        """True when the candidate's checksum holds; None keeps the base score (never rejected)."""
        return self.RULE.validate(pattern_text)

    def enhance_using_context(
        self,
        text: str,
        raw_recognizer_results: list[RecognizerResult],
        other_raw_recognizer_results: list[RecognizerResult],
        nlp_artifacts: Any,
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """Boost a result when one of the rule's context words occurs just before it."""
        for result in raw_recognizer_results:
            result.score = self.RULE.score_in_context(text, result.start, result.score)
            result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_recognizer_results


class ResidentIdRecognizer(ChineseEntityRecognizer):
    """Resident identity numbers (GB 11643-1999, MOD 11-2 check; 15-digit first-generation numbers)."""

    RULE = RULES_BY_ENTITY[Entity.RESIDENT_ID]


class UsccRecognizer(ChineseEntityRecognizer):
    """Unified social credit codes of legal persons (GB 32100-2015, MOD 31 check)."""

    RULE = RULES_BY_ENTITY[Entity.USCC]


class IndividualBusinessRecognizer(ChineseEntityRecognizer):
    """Unified social credit codes starting 92: individual businesses, personal data."""

    RULE = RULES_BY_ENTITY[Entity.INDIVIDUAL_BUSINESS]


class MobilePhoneRecognizer(ChineseEntityRecognizer):
    """Mainland mobile numbers (allocated 13x-19x segments), with or without +86."""

    RULE = RULES_BY_ENTITY[Entity.MOBILE]


class LandlinePhoneRecognizer(ChineseEntityRecognizer):
    """Landline numbers with an area code: ``010-12345678``, ``(0755)1234567``."""

    RULE = RULES_BY_ENTITY[Entity.LANDLINE]


class BankCardRecognizer(ChineseEntityRecognizer):
    """Bank card numbers, 16-19 digits, plain or in groups of four (Luhn check)."""

    RULE = RULES_BY_ENTITY[Entity.BANK_CARD]


class PassportRecognizer(ChineseEntityRecognizer):
    """Chinese passport numbers (E/G/D/S/P + 8 digits, E + letter + 7 digits)."""

    RULE = RULES_BY_ENTITY[Entity.PASSPORT]


class EmailRecognizer(ChineseEntityRecognizer):
    """E-mail addresses, fenced so they can sit inside Chinese text."""

    RULE = RULES_BY_ENTITY[Entity.EMAIL]


RECOGNIZERS: tuple[type[ChineseEntityRecognizer], ...] = (
    ResidentIdRecognizer,
    UsccRecognizer,
    IndividualBusinessRecognizer,
    MobilePhoneRecognizer,
    LandlinePhoneRecognizer,
    BankCardRecognizer,
    PassportRecognizer,
    EmailRecognizer,
)


def build_analyzer(languages: Sequence[str] = LANGUAGES) -> AnalyzerEngine:
    """An AnalyzerEngine on the ``no_op`` NLP engine with only our recognizers, for ``languages``."""
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "no_op",
            "models": [{"lang_code": lang, "model_name": "no_op"} for lang in languages],
        }
    )
    registry = RecognizerRegistry(
        recognizers=[cls(supported_language=lang) for lang in languages for cls in RECOGNIZERS],
        supported_languages=list(languages),
    )
    return AnalyzerEngine(
        registry=registry, nlp_engine=provider.create_engine(), supported_languages=list(languages)
    )


def to_finding(text: str, result: RecognizerResult) -> Finding:
    """Our Finding for a Presidio result on ``text`` (``valid`` re-derived from the matched text)."""
    entity = Entity(result.entity_type)
    valid = RULES_BY_ENTITY[entity].validate(text[result.start : result.end]) is True
    return Finding(entity, result.start, result.end, float(result.score), valid)


class PresidioScanner:
    """A TextScanner on Presidio's analyzer: pre-check first, then ``AnalyzerEngine.analyze``.

    The no-op engine's (empty) NLP artifacts are computed once and passed in, and the entity list is
    fixed, which skips per-call work the stock call does for nothing.
    """

    def __init__(self, analyzer: AnalyzerEngine | None = None, language: str = "zh") -> None:
        self.analyzer = analyzer if analyzer is not None else build_analyzer()
        self.language = language
        self._artifacts = self.analyzer.nlp_engine.process_text("", language)
        self._entities = sorted(self.analyzer.get_supported_entities(language))

    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text``; texts failing the pre-check never reach the analyzer."""
        if not has_candidate(text):
            return []
        normalized = normalize_mapped(text)
        view = normalized.text
        results = self.analyzer.analyze(
            view, language=self.language, entities=self._entities, nlp_artifacts=self._artifacts
        )
        return complete(normalized, (to_finding(view, r) for r in results))
