"""Finding personal data in text: candidate patterns, checksums, scores and the residual guard.

Everything here is pure and uses only the standard library, so the same rules serve three callers:
the fast free-text scanner, the Presidio recognizers (``gateway.adapters.presidio`` builds its
``PatternRecognizer`` subclasses from ``ENTITY_RULES``) and the residual guard that inspects every value
on its way out.

Chinese text has no spaces between words, so ``\\b`` is useless (``身份证号110...`` has no word boundary
before the digits: both sides are ``\\w``). Every pattern is instead fenced by the lookarounds
``(?<![0-9A-Za-z])`` and ``(?![0-9A-Za-z])``: a candidate may touch Chinese characters and punctuation,
never another letter or digit.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from gateway.domain.identifiers import is_valid_resident_id, is_valid_uscc

MAX_SCORE = 1.0
CONTEXT_BOOST = 0.35
CONTEXT_WINDOW = 16

_B = r"(?<![0-9A-Za-z])"  # left fence: no letter or digit before (works between Chinese characters)
_E = r"(?![0-9A-Za-z])"  # right fence
_USCC_CHAR = "[0-9A-HJ-NPQRTUWXY]"

# Cheap pre-check: every pattern below except e-mail needs six digits in a row (single spaces or
# hyphens allowed between them, as in grouped card and phone numbers); e-mail needs an '@'.
_PRECHECK = re.compile(r"[0-9](?:[ -]?[0-9]){5}|@")

# The same checks on long texts, without the regex engine's per-character cost: UTF-8 bytes (a
# multi-byte character never contains an ASCII byte) mapped by bytes.translate to a shape in which every
# digit is "0"; then a plain substring search.
_LONG = 32
_SHAPE = bytearray(b"a" * 256)
_SHAPE[ord("0") : ord("9") + 1] = b"0" * 10
_SHAPE[ord("@")] = ord("@")
_CANDIDATE_SHAPE = bytes(_SHAPE)
_SHAPE[ord("@")] = ord("a")
_SHAPE[ord(" ")] = _SHAPE[ord("-")] = ord("-")
_GUARD_SHAPE = bytes(_SHAPE)
del _SHAPE


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


_LUHN_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def luhn_valid(digits: str) -> bool:
    """True when a string of ASCII digits passes the Luhn (ISO/IEC 7812-1) check."""
    raw = digits.encode("ascii")
    total = sum(raw[-1::-2].translate(_LUHN_PLAIN)) + sum(raw[-2::-2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


# One implementation of each checksum, shared with request validation and the ledger's guard.
resident_id_valid = is_valid_resident_id
uscc_valid = is_valid_uscc


# Mobile number segments allocated by MIIT (13x-19x); 140-144, 154, 160/161/163/164/168/169 and the
# 19x outside the list are unallocated or data-only and do not count as valid numbers.
_MOBILE_SEGMENTS = frozenset(
    f"1{n:02d}"
    for n in range(30, 100)
    if re.fullmatch(r"3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9]", f"{n:02d}")
)
_MOBILE_PREFIX = re.compile(r"^(?:\+|00)?86[- ]?")


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def validate_resident_id(text: str) -> bool | None:
    """True for a resident ID with a real birth date and a correct MOD 11-2 check character."""
    return True if resident_id_valid(text) else None


def validate_uscc(text: str) -> bool | None:
    """True for a unified social credit code with a correct MOD 31 check character."""
    return True if uscc_valid(text) else None


def validate_mobile(text: str) -> bool | None:
    """True for an 11-digit mobile number in an allocated segment (country prefix allowed)."""
    number = text if len(text) == 11 else _digits(_MOBILE_PREFIX.sub("", text))
    return True if len(number) == 11 and _ascii_digits(number) and number[:3] in _MOBILE_SEGMENTS else None


def validate_bank_card(text: str) -> bool | None:
    """True for a 16-19 digit card number that passes the Luhn check."""
    digits = _digits(text)
    return True if 16 <= len(digits) <= 19 and _ascii_digits(digits) and luhn_valid(digits) else None


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
            PatternRule("resident_id_18", _B + r"[0-9]{17}[0-9Xx]" + _E, 0.5),
            # First-generation 15-digit numbers (GB 11643-1989) carry no check character.
            PatternRule("resident_id_15", _B + r"[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])[0-9]{5}" + _E, 0.3),
        ),
        ("身份证", "证件号", "身份号码", "id card", "identity", "resident id", "id no"),
        validate_resident_id,
    ),
    EntityRule(
        Entity.USCC,
        (PatternRule("uscc", _B + r"(?!92)" + _USCC_CHAR + r"{2}[0-9]{6}" + _USCC_CHAR + r"{10}" + _E, 0.4),),
        ("信用代码", "营业执照", "注册号", "uscc", "credit code"),
        validate_uscc,
    ),
    EntityRule(
        Entity.INDIVIDUAL_BUSINESS,
        (PatternRule("uscc_92", _B + r"92[0-9]{6}" + _USCC_CHAR + r"{10}" + _E, 0.5),),
        ("信用代码", "营业执照", "个体工商户", "个体户", "注册号", "uscc", "credit code"),
        validate_uscc,
    ),
    EntityRule(
        Entity.MOBILE,
        (
            PatternRule(
                "mobile",
                _B + r"(?:(?:\+|00)?86[- ]?)?1[3-9][0-9]"
                r"(?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})" + _E,
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
                r"(?:" + _B + r"0[1-9][0-9]{1,2}[- ]?|\(0[1-9][0-9]{1,2}\)|（0[1-9][0-9]{1,2}）)"
                r"[2-9][0-9]{6,7}" + _E,
                0.4,
            ),
        ),
        ("电话", "座机", "固话", "传真", "tel", "phone", "fax"),
        _no_check,
    ),
    EntityRule(
        Entity.BANK_CARD,
        (
            PatternRule("bank_card", _B + r"[0-9]{16,19}" + _E, 0.3),
            PatternRule(
                "bank_card_grouped", _B + r"[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -]?[0-9]{1,3})?" + _E, 0.3
            ),
        ),
        ("银行卡", "卡号", "账号", "账户", "开户", "card", "account", "bank"),
        validate_bank_card,
    ),
    EntityRule(
        Entity.PASSPORT,
        (PatternRule("passport", _B + r"(?:[EGDSP][0-9]{8}|E[A-HJ-NP-Z][0-9]{7})" + _E, 0.4),),
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

    On long texts separators are dropped before looking for six digits, which can only add
    candidates (a superset of the regex), never lose one.
    """
    if len(text) <= _LONG:
        return _PRECHECK.search(text) is not None
    shape = _shape(text, _CANDIDATE_SHAPE, b" -")
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


def find_entities(text: str) -> list[Finding]:
    """Every finding in ``text`` (overlapping findings of different entities are all kept).

    The order of operations is Presidio's, so scores and duplicates come out the same: per entity,
    duplicates removed, then context applied, then duplicates removed again.
    """
    per_rule: list[list[tuple[int, int, float, bool]]] = [[] for _ in ENTITY_RULES]
    for segment in _SEGMENT.finditer(text):
        chunk = segment.group()
        if not has_candidate(chunk):
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
            boosted = [f._replace(score=rule.score_in_context(text, f.start, f.score)) for f in deduped]
            out.extend(remove_duplicates(boosted))
            continue
        for start, end, score, valid in raw:
            out.append(Finding(entity, start, end, rule.score_in_context(text, start, score), valid))
    return out


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


class GuardEntity(enum.StrEnum):
    """Checksum-valid identifiers the residual guard never lets out uncleared."""

    RESIDENT_ID = "resident_id"
    INDIVIDUAL_BUSINESS = "individual_business_uscc"
    BANK_CARD = "bank_card"
    MOBILE = "mobile"


# Every guarded identifier has eight digits in a row, or is a mobile or card number written in groups
# (3-4-4, 4-4-4-4); dates (2023-05-12), amounts and masked values have neither and skip the guard.
_GUARD_PRECHECK = re.compile(r"[0-9](?:[0-9]{7}|[0-9]{2,3}[ -][0-9]{4}[ -][0-9]{4})")
_TOKEN = re.compile(r"[0-9A-Za-z]{11,}")
_GROUPED_CARD = re.compile(RULES_BY_ENTITY[Entity.BANK_CARD].patterns[1].regex)
_SEPARATED_MOBILE = re.compile(
    _B + r"(?:(?:\+|00)?86[- ]?)?1[3-9][0-9](?:-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})" + _E
)


def might_leak(text: str) -> bool:
    """The guard's pre-check: False means ``text`` cannot hold a guarded identifier."""
    if len(text) <= _LONG:
        return _GUARD_PRECHECK.search(text) is not None
    shape = _shape(text, _GUARD_SHAPE)
    return b"00000000" in shape or b"000-0000-0000" in shape


def _classify(token: str) -> GuardEntity | None:
    """The guarded identifier a whole alphanumeric token is, if any (resident ID first)."""
    n = len(token)
    if n == 18:
        if resident_id_valid(token):
            return GuardEntity.RESIDENT_ID
        if uscc_valid(token):  # a legal person's code is claimed here, so never taken for a card
            return GuardEntity.INDIVIDUAL_BUSINESS if token.startswith("92") else None
    if 16 <= n <= 19:
        return GuardEntity.BANK_CARD if _ascii_digits(token) and luhn_valid(token) else None
    if n in (11, 13, 15) and validate_mobile(token):
        return GuardEntity.MOBILE
    return None


def residual_entities(text: str) -> set[GuardEntity]:
    """Which guarded identifiers occur in clear in ``text`` with a valid checksum.

    The patterns are fenced (no letter or digit on either side), so an identifier written without
    separators is exactly one alphanumeric token, classified once: resident ID, then credit code (a
    92-code is guarded, a legal person's is not), then bank card, then mobile; a resident ID that
    happens to pass Luhn is not also a card. Grouped card numbers and separated mobile numbers are
    matched by their own patterns.
    """
    if text.isalnum() and text.isascii():
        # The usual structured value: one token, nothing around it (a token is at least 11 long).
        entity = _classify(text) if len(text) >= 11 else None
        return {entity} if entity is not None else set()
    if not might_leak(text):
        return set()
    found: set[GuardEntity] = set()
    for m in _TOKEN.finditer(text):
        entity = _classify(m.group())
        if entity is not None:
            found.add(entity)
    if " " in text or "-" in text:
        if any(validate_bank_card(m.group()) for m in _GROUPED_CARD.finditer(text)):
            found.add(GuardEntity.BANK_CARD)
        if any(validate_mobile(m.group()) for m in _SEPARATED_MOBILE.finditer(text)):
            found.add(GuardEntity.MOBILE)
    return found
