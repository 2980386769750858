"""Finding personal data in text: candidate patterns, checksums, scores and the residual guard.

Everything here is pure and uses only the standard library, so the same rules serve three callers:
the fast free-text scanner, the Presidio recognizers (``gateway.adapters.presidio`` builds its
``PatternRecognizer`` subclasses from ``ENTITY_RULES``) and the residual guard that inspects every value
on its way out.

Every text is read as ``gateway.domain.detector`` reads it (``normalize_mapped``: NFKC, upper case,
separators next to digits dropped), the patterns run on that view, and each finding is mapped back to
its span in the original text, so a full-width, lower-case, spaced or hyphenated identifier is found
and masked whole. The Presidio adapter analyzes the same view and maps back the same way.

Chinese text has no spaces between words, so ``\\b`` is useless, and an identifier may touch letters
(``ID330108…``). The numeric patterns are fenced by digits only (``(?<![0-9])``, ``(?![0-9])``): a
candidate may touch Chinese characters, punctuation and letters, never another digit.

Scoring follows Presidio's pattern recognizers so both paths produce identical findings:

* a candidate whose checksum (or number-segment check) holds scores ``1.0``;
* otherwise it keeps its pattern's base score: a candidate that fails its checksum is still treated as
  personal data (typos are personal data too), only with less confidence;
* a context word (Chinese or English) within ``CONTEXT_WINDOW`` characters before the candidate adds
  ``CONTEXT_BOOST``, capped at 1.0;
* duplicates are removed per entity as Presidio does: a finding contained in another finding of the
  same entity with an equal or higher score is dropped.

Every finding is personal except a checksum-valid unified social credit code of a legal person
(codes not starting with ``92``): those are public registration data.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from gateway.domain import detector
from gateway.domain.detector import IdentifierKind, Normalized, normalize_mapped
from gateway.domain.identifiers import SEPARATORS, is_valid_resident_id, is_valid_uscc, luhn_valid

MAX_SCORE = 1.0
CONTEXT_BOOST = 0.35
CONTEXT_WINDOW = 16

_B = r"(?<![0-9])"  # left fence: no digit before (letters and Chinese characters may touch)
_E = r"(?![0-9])"  # right fence
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"
# Credit-code candidates (checksum-valid or not) keep letter fences: without them every hex string or
# run of capitals next to six digits would be masked. A checksum-valid code glued to letters is found
# by ``complete`` instead, from the detector's window search.
_CODE_START = r"(?<![0-9A-Z])"
_CODE_END = r"(?![0-9A-Z])"

# Cheap pre-check on the normalized view: every pattern below except e-mail needs six digits in a row;
# e-mail needs an '@'.
_PRECHECK = re.compile(r"[0-9]{6}|@")

# The same checks on long texts, without the regex engine's per-character cost: UTF-8 bytes (a
# multi-byte character never contains an ASCII byte) mapped by bytes.translate to a shape in which every
# digit is "0"; then a plain substring search.
_LONG = 32
_SHAPE = bytearray(b"a" * 256)
_SHAPE[ord("0") : ord("9") + 1] = b"0" * 10
_SHAPE[ord("@")] = ord("@")
_CANDIDATE_SHAPE = bytes(_SHAPE)
del _SHAPE
# ASCII separators, deleted by the long-text pre-check; non-ASCII ones (dashes, middle dots) turn into
# multi-byte sequences there, so a text holding one is scanned without the byte shortcut.
_SEPARATOR_BYTES = b" \t\n\r\f\v-."
_SEPARATORS = re.compile("[" + SEPARATORS + "]+")


def _shape(text: str, table: bytes, delete: bytes = b"") -> bytes:
    return text.encode("utf-8", "surrogatepass").translate(table, delete)


class Entity(enum.StrEnum):
    """What a finding is; the names double as Presidio entity types."""

    RESIDENT_ID = "CN_RESIDENT_ID"
    USCC = "CN_USCC"  # legal-person codes: personal only when the checksum fails
    INDIVIDUAL_BUSINESS = "CN_INDIVIDUAL_BUSINESS_USCC"  # codes starting 92: personal data
    MOBILE = "CN_MOBILE_PHONE"
    LANDLINE = "CN_LANDLINE_PHONE"
    BANK_CARD = "CN_BANK_CARD"
    PASSPORT = "CN_PASSPORT"
    EMAIL = "EMAIL_ADDRESS"


# Which entity wins when personal findings of different entities overlap with equal scores.
ENTITY_PRIORITY: dict[Entity, int] = {
    Entity.RESIDENT_ID: 0,
    Entity.INDIVIDUAL_BUSINESS: 1,
    Entity.BANK_CARD: 2,
    Entity.MOBILE: 3,
    Entity.PASSPORT: 4,
    Entity.LANDLINE: 5,
    Entity.EMAIL: 6,
    Entity.USCC: 7,
}


__all__ = ["luhn_valid"]  # re-exported: one Luhn implementation, in gateway.domain.identifiers

# One implementation of each checksum, shared with request validation and the ledger's guard.
resident_id_valid = is_valid_resident_id
uscc_valid = is_valid_uscc


# The validators get a candidate from the normalized view (ASCII digits, upper case, no separators).


def validate_resident_id(text: str) -> bool | None:
    """True for a resident ID with a province, a real birth date and a correct MOD 11-2 check character."""
    return True if resident_id_valid(text) else None


def validate_uscc(text: str) -> bool | None:
    """True for a unified social credit code with GB 32100's positions and a correct check character."""
    return True if uscc_valid(text) else None


def validate_mobile(text: str) -> bool | None:
    """True for an 11-digit mobile number in an allocated segment (country prefix allowed)."""
    return True if detector.mobile_number(text.removeprefix("+")) else None


def validate_bank_card(text: str) -> bool | None:
    """True for a 16-19 digit card number that passes the Luhn check."""
    return True if detector.bank_card_number(text) else None


def _no_check(_: str) -> bool | None:
    return None


@dataclass(frozen=True, slots=True)
class PatternRule:
    """One candidate pattern and the score of a candidate that no checksum confirms."""

    name: str
    regex: str
    score: float


@dataclass(frozen=True, slots=True)
class EntityRule:
    """How one entity is found: patterns, the check that confirms a candidate, and context words."""

    entity: Entity
    patterns: tuple[PatternRule, ...]
    context: tuple[str, ...]
    validate: Callable[[str], bool | None]
    context_regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = "|".join(re.escape(w) for w in self.context) or "(?!)"
        object.__setattr__(self, "context_regex", re.compile(words, re.IGNORECASE))

    def score_in_context(self, text: str, start: int, score: float) -> float:
        """``score`` raised by CONTEXT_BOOST when a context word ends within the window before ``start``.

        Context words are matched as substrings, case-insensitively: Chinese has no word boundaries,
        and Presidio's lemma-based enhancer has no tokens to work with on the no-op NLP engine.
        """
        if score >= MAX_SCORE:
            return score
        if self.context_regex.search(text, max(0, start - CONTEXT_WINDOW), start):
            return round(min(score + CONTEXT_BOOST, MAX_SCORE), 4)
        return score


ENTITY_RULES: tuple[EntityRule, ...] = (
    EntityRule(
        Entity.RESIDENT_ID,
        (
            PatternRule("resident_id_18", _B + r"[0-9]{17}[0-9X]" + _E, 0.5),
            # First-generation 15-digit numbers (GB 11643-1989) carry no check character.
            PatternRule("resident_id_15", _B + r"[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])[0-9]{5}" + _E, 0.3),
        ),
        ("身份证", "证件号", "身份号码", "id card", "identity", "resident id", "id no"),
        validate_resident_id,
    ),
    EntityRule(
        Entity.USCC,
        (
            PatternRule(
                "uscc",
                _CODE_START + r"(?!92)" + _USCC_CHAR + r"{2}[0-9]{6}" + _USCC_CHAR + r"{10}" + _CODE_END,
                0.4,
            ),
        ),
        ("信用代码", "营业执照", "注册号", "uscc", "credit code"),
        validate_uscc,
    ),
    EntityRule(
        Entity.INDIVIDUAL_BUSINESS,
        (PatternRule("uscc_92", _CODE_START + r"92[0-9]{6}" + _USCC_CHAR + r"{10}" + _CODE_END, 0.5),),
        ("信用代码", "营业执照", "个体工商户", "个体户", "注册号", "uscc", "credit code"),
        validate_uscc,
    ),
    EntityRule(
        Entity.MOBILE,
        (
            PatternRule(
                "mobile",
                r"(?<![0-9+])(?:(?:\+|00)?86)?1[3-9][0-9]{9}" + _E,
                0.5,
            ),
        ),
        ("手机", "电话", "联系方式", "mobile", "phone", "tel", "cell"),
        validate_mobile,
    ),
    EntityRule(
        Entity.LANDLINE,
        (
            PatternRule(
                "landline",
                r"(?:" + _B + r"0[1-9][0-9]{1,2}|\(0[1-9][0-9]{1,2}\) ?)[2-9][0-9]{6,7}" + _E,
                0.4,
            ),
        ),
        ("电话", "座机", "固话", "传真", "tel", "phone", "fax"),
        _no_check,
    ),
    EntityRule(
        Entity.BANK_CARD,
        (
            # Grouped forms (6222 0212 3456 7890) are whole in the normalized view. Letter-fenced like
            # credit codes (the digits of 9111010168899177X5 are no card); a valid card glued to
            # letters or written in groups among other digits comes from ``number_findings``.
            PatternRule("bank_card", _CODE_START + r"[0-9]{16,19}" + _CODE_END, 0.3),
        ),
        ("银行卡", "卡号", "账号", "账户", "开户", "card", "account", "bank"),
        validate_bank_card,
    ),
    EntityRule(
        Entity.PASSPORT,
        (PatternRule("passport", r"(?<![0-9A-Z])(?:[EGDSP][0-9]{8}|E[A-HJ-NP-Z][0-9]{7})" + _E, 0.4),),
        ("护照", "passport"),
        _no_check,
    ),
    EntityRule(
        Entity.EMAIL,
        (
            PatternRule(
                "email",
                r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
                r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
                0.6,
            ),
        ),
        ("邮箱", "邮件", "email", "e-mail", "mail"),
        _no_check,
    ),
)

RULES_BY_ENTITY: dict[Entity, EntityRule] = {rule.entity: rule for rule in ENTITY_RULES}


class Finding(NamedTuple):
    """A span of text recognized as an entity; ``valid`` says whether its checksum held."""

    entity: Entity
    start: int
    end: int
    score: float
    valid: bool

    @property
    def personal(self) -> bool:
        """Everything found is personal except a checksum-valid legal-person credit code."""
        return not (self.valid and self.entity is Entity.USCC)


def has_candidate(text: str) -> bool:
    """The cheap pre-check: False means no pattern can match, so the text needs no scan.

    Separators are dropped (and non-ASCII text NFKC-normalized) before looking for six digits, which
    can only add candidates (a superset of the patterns on the normalized view), never lose one.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if len(text) <= _LONG:
        return _PRECHECK.search(_SEPARATORS.sub("", text)) is not None
    shape = _shape(text, _CANDIDATE_SHAPE, _SEPARATOR_BYTES)
    return b"000000" in shape or b"@" in shape


def remove_duplicates(findings: Iterable[Finding]) -> list[Finding]:
    """Drop exact duplicates and findings contained in a same-entity finding with a score as high.

    Mirrors ``presidio_analyzer.EntityRecognizer.remove_duplicates`` so both paths agree.
    """
    unique = sorted(set(findings), key=lambda f: (f.entity.value, f.start, -(f.end - f.start), -f.score))
    kept: list[Finding] = []
    active: list[Finding] = []
    current: Entity | None = None
    for f in unique:
        if f.entity is not current:
            current, active = f.entity, []
        active = [a for a in active if a.end >= f.start]
        if any(a.start <= f.start and f.end <= a.end and f.score <= a.score for a in active):
            continue
        kept.append(f)
        active.append(f)
    return kept


# (rule index, compiled pattern, base score, validator), flattened for the scanning loop.
_PATTERNS = tuple(
    (index, re.compile(p.regex), p.score, rule.validate)
    for index, rule in enumerate(ENTITY_RULES)
    for p in rule.patterns
)


# Every character a pattern can consume. A match lies inside one maximal run of them, and a fence sees
# the same at a run's edge as at the text's edge (a character outside the set is never a letter or a
# digit), so matching run by run finds exactly what matching the whole text finds, and the many runs
# with no candidate (years, amounts, words) are skipped after one cheap search.
_SEGMENT = re.compile(r"[0-9A-Za-z .+\-_%@()（）]+")


def find_in_view(view: str) -> list[Finding]:
    """Every finding in an already normalized text, with spans in that text.

    The order of operations is Presidio's, so scores and duplicates come out the same: per entity,
    duplicates removed, then context applied, then duplicates removed again.
    """
    per_rule: list[list[tuple[int, int, float, bool]]] = [[] for _ in ENTITY_RULES]
    for segment in _SEGMENT.finditer(view):
        chunk = segment.group()
        if _PRECHECK.search(chunk) is None:
            continue
        offset = segment.start()
        for index, regex, base, validate in _PATTERNS:
            for m in regex.finditer(chunk):
                valid = validate(m.group()) is True
                per_rule[index].append(
                    (offset + m.start(), offset + m.end(), MAX_SCORE if valid else base, valid)
                )
    out: list[Finding] = []
    for raw, rule in zip(per_rule, ENTITY_RULES, strict=True):
        if not raw:
            continue
        entity = rule.entity
        if len(raw) > 1 and len(rule.patterns) > 1:
            # Only several patterns of one entity can overlap (one pattern yields disjoint matches).
            deduped = remove_duplicates(Finding(entity, *r) for r in raw)
            boosted = [f._replace(score=rule.score_in_context(view, f.start, f.score)) for f in deduped]
            out.extend(remove_duplicates(boosted))
            continue
        for start, end, score, valid in raw:
            out.append(Finding(entity, start, end, rule.score_in_context(view, start, score), valid))
    return out


def to_original(normalized: Normalized, findings: Iterable[Finding]) -> list[Finding]:
    """Findings on the normalized view moved to their spans in the original text."""
    out = []
    for f in findings:
        start, end = normalized.span(f.start, f.end)
        out.append(f._replace(start=start, end=end))
    return out


def window_findings(view: str) -> list[Finding]:
    """Checksum-valid resident IDs and credit codes the fenced patterns cannot see.

    The patterns need a fence (a resident ID no digit touches, a credit code no letter touches); the
    detector's window search finds a valid one glued to digits or letters all the same. Presidio's
    pattern recognizers cannot match overlapping windows, so both scanners add these the same way.
    """
    out = []
    for start, code in detector.subject_windows(view):
        if is_valid_resident_id(code):
            entity = Entity.RESIDENT_ID
        else:
            entity = Entity.INDIVIDUAL_BUSINESS if code.startswith("92") else Entity.USCC
        out.append(Finding(entity, start, start + 18, MAX_SCORE, True))
    return out


def number_findings(normalized: Normalized) -> list[Finding]:
    """Valid card and mobile numbers among the digit groups of a written number (see the detector)."""
    out = []
    windows = detector.subject_windows(normalized.text)
    for start, end in detector.free_number_spans(normalized.text, normalized.breaks, windows):
        kind = detector.number_kind(normalized.text, start, end)
        if kind is not None:
            entity = Entity.MOBILE if kind is IdentifierKind.MOBILE else Entity.BANK_CARD
            out.append(Finding(entity, start, end, MAX_SCORE, True))
    return out


def complete(normalized: Normalized, view_findings: Iterable[Finding]) -> list[Finding]:
    """A scanner's findings on the normalized view, plus the window findings, in original spans."""
    found = list(view_findings)
    seen = set(found)
    extra = window_findings(normalized.text) + number_findings(normalized)
    found.extend(f for f in extra if f not in seen)
    return to_original(normalized, found)


def find_entities(text: str) -> list[Finding]:
    """Every finding in ``text`` (overlapping findings of different entities are all kept)."""
    normalized = normalize_mapped(text)
    return complete(normalized, find_in_view(normalized.text))


class FastScanner:
    """The standard-library scanner: pre-check, then the compiled patterns of ``ENTITY_RULES``."""

    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text``; texts failing the pre-check are not scanned at all."""
        if not has_candidate(text):
            return []
        return find_entities(text)


def resolve(findings: Sequence[Finding]) -> list[tuple[int, int, Entity]]:
    """Spans to desensitize, left to right: overlapping personal findings merged into one span.

    A merged span takes the entity of its best finding (score, then ``ENTITY_PRIORITY``) and covers the
    union of the overlapping findings, so no part of any personal finding is left in clear. Findings
    that are not personal (a valid legal-person credit code) are left alone.
    """
    personal = sorted((f for f in findings if f.personal), key=lambda f: (f.start, -f.end))
    spans: list[tuple[int, int, Entity]] = []
    cluster_start = cluster_end = -1
    best: Finding | None = None
    for f in personal:
        if best is not None and f.start < cluster_end:
            cluster_end = max(cluster_end, f.end)
            if (-f.score, ENTITY_PRIORITY[f.entity]) < (-best.score, ENTITY_PRIORITY[best.entity]):
                best = f
            continue
        if best is not None:
            spans.append((cluster_start, cluster_end, best.entity))
        cluster_start, cluster_end, best = f.start, f.end, f
    if best is not None:
        spans.append((cluster_start, cluster_end, best.entity))
    return spans


# --- residual guard -----------------------------------------------------------------------------


# The guard is the detector's: the same normalization and checks as request validation and the ledger.
GuardEntity = IdentifierKind
GUARDED: frozenset[IdentifierKind] = detector.PERSONAL_KINDS


def might_leak(text: str) -> bool:
    """The guard's pre-check: False means ``text`` cannot hold a guarded identifier."""
    return detector.might_hold_identifier(text)


def residual_entities(text: str) -> set[GuardEntity]:
    """Which guarded identifiers (resident IDs, 92-codes, cards, mobiles) occur in ``text``, in any form.

    A legal person's credit code is public and not guarded; a resident ID that happens to pass Luhn is
    not also a card.
    """
    return detector.identifiers_in(text, GUARDED)
