"""Candidate finding, checksums, scores and the residual guard (gateway.domain.desensitize.text_scan)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import unicodedata

import pytest

from gateway.domain.desensitize import text_scan as pii_scan
from gateway.domain.desensitize.text_scan import (
    MAX_SCORE,
    Entity,
    FastScanner,
    Finding,
    GuardEntity,
    find_entities,
    has_candidate,
    luhn_valid,
    resident_id_valid,
    residual_entities,
    resolve,
    uscc_valid,
)
from gateway.domain.identifiers import is_valid_resident_id, is_valid_uscc, uscc_check_char
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

RNG_SEED = 20261122


def _at(findings: list[Finding], start: int, end: int) -> dict[Entity, Finding]:
    return {f.entity: f for f in findings if f.start == start and f.end == end}


def _covered_by_personal(findings: list[Finding], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e, _ in resolve(findings))


# --- valid identifiers ----------------------------------------------------------------------------


def test_generated_resident_ids_are_found_valid_inside_chinese_text() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(300):
        rid = resident_id(rng)
        text = f"当事人身份证号{rid}于2023年受到处罚"
        start = text.index(rid)
        found = _at(find_entities(text), start, start + 18)
        assert found[Entity.RESIDENT_ID].valid
        assert found[Entity.RESIDENT_ID].score == MAX_SCORE
        assert resolve(find_entities(text)) == [(start, start + 18, Entity.RESIDENT_ID)]


def test_word_boundaries_do_not_work_in_chinese_but_the_fences_do() -> None:
    rid = resident_id(random.Random(1))
    text = f"身份证号{rid}号"
    # Chinese characters are \w, so \b finds no boundary next to the digits.
    assert re.search(r"\b[0-9]{17}[0-9X]\b", text) is None
    assert Entity.RESIDENT_ID in _at(find_entities(text), 4, 22)


def test_a_longer_digit_run_is_not_a_resident_id_but_letters_may_touch_one() -> None:
    rid = resident_id(random.Random(2))
    # The fenced pattern sees no ID in a 19-digit run; the window search still finds a valid one.
    assert [
        (f.start, f.end, f.score) for f in find_entities(f"编号1{rid}") if f.entity is Entity.RESIDENT_ID
    ] == [(3, 21, MAX_SCORE)]
    # A letter is no boundary the scanner relies on: 依据ID330108... is an ID glued to "ID".
    glued = [f for f in find_entities(f"编号ID{rid}申请") if f.entity is Entity.RESIDENT_ID]
    assert [(f.start, f.end, f.valid) for f in glued] == [(4, 22, True)]
    # The guard sees the one glued to digits too (every 18-character window counts there).
    assert residual_entities(f"编号1{rid}") == {GuardEntity.RESIDENT_ID}


def test_lower_case_check_character_is_accepted() -> None:
    rng = random.Random(3)
    rid = next(r for r in (resident_id(rng) for _ in range(1000)) if r.endswith("X"))
    text = f"ID no: {rid.lower()}"
    assert _at(find_entities(text), 7, 25)[Entity.RESIDENT_ID].valid


def test_generated_credit_codes_legal_persons_are_not_personal_individual_businesses_are() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(300):
        legal, individual = uscc(rng, "91"), uscc(rng, "92")
        text = f"统一社会信用代码{legal}，个体工商户{individual}。"
        findings = find_entities(text)
        a, b = text.index(legal), text.index(individual)
        assert _at(findings, a, a + 18)[Entity.USCC].valid
        assert not _at(findings, a, a + 18)[Entity.USCC].personal
        ib = _at(findings, b, b + 18)[Entity.INDIVIDUAL_BUSINESS]
        assert ib.valid
        assert ib.personal
        assert ib.score == MAX_SCORE
        spans = resolve(findings)
        assert (b, b + 18, Entity.INDIVIDUAL_BUSINESS) in spans
        assert not _covered_by_personal(findings, a, a + 18)


def test_generated_bank_cards_are_found_plain_and_grouped() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(300):
        card = bank_card(rng)
        grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
        for shown in (card, grouped):
            text = f"银行卡号{shown}，"
            found = _at(find_entities(text), 4, 4 + len(shown))
            assert found[Entity.BANK_CARD].valid, shown


def test_generated_mobiles_are_found_with_and_without_country_code() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(300):
        number = mobile(rng)
        for shown in (
            number,
            f"+86{number}",
            f"+86 {number[:3]} {number[3:7]} {number[7:]}",
            f"{number[:3]}-{number[3:7]}-{number[7:]}",
        ):
            text = f"联系电话{shown}。"
            found = _at(find_entities(text), 4, 4 + len(shown))
            assert found[Entity.MOBILE].valid, shown
            assert found[Entity.MOBILE].score == MAX_SCORE


def test_unallocated_mobile_segment_is_found_at_a_lower_score() -> None:
    text = "手机14012345678"
    found = _at(find_entities(text), 2, 13)[Entity.MOBILE]
    assert not found.valid
    assert found.score < MAX_SCORE
    assert found.personal


@pytest.mark.parametrize(
    ("text", "shown", "entity"),
    [
        ("联系电话010-62345678转", "010-62345678", Entity.LANDLINE),
        ("座机(0755)2345678", "(0755)2345678", Entity.LANDLINE),
        ("护照号码E12345678", "E12345678", Entity.PASSPORT),
        ("护照EA1234567已过期", "EA1234567", Entity.PASSPORT),
        ("邮箱zhang.san@example.com。", "zhang.san@example.com", Entity.EMAIL),
        ("e-mail: li_si+x@mail.example.cn", "li_si+x@mail.example.cn", Entity.EMAIL),
    ],
)
def test_other_entities_inside_chinese_text(text: str, shown: str, entity: Entity) -> None:
    start = text.index(shown)
    found = _at(find_entities(text), start, start + len(shown))
    assert entity in found
    assert found[entity].personal


# --- corruptions ----------------------------------------------------------------------------------


def test_every_single_character_corruption_of_a_resident_id_fails_its_checksum_and_is_still_masked() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(25):
        rid = resident_id(rng)
        for bad in resident_id_corruptions(rid):
            assert not resident_id_valid(bad)
            assert not is_valid_resident_id(bad)
            text = f"身份证号{bad}，"
            findings = find_entities(text)
            found = _at(findings, 4, 22)[Entity.RESIDENT_ID]
            assert not found.valid
            assert found.score < MAX_SCORE
            assert _covered_by_personal(findings, 4, 22), bad


def test_every_corruption_of_the_check_character_is_caught() -> None:
    rng = random.Random(RNG_SEED + 1)
    for _ in range(200):
        rid = resident_id(rng)
        for ch in "0123456789X":
            if ch != rid[17]:
                assert not resident_id_valid(rid[:17] + ch)
        code = uscc(rng, rng.choice(("91", "92", "12", "52")))
        for ch in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if ch != code[17]:
                assert not uscc_valid(code[:17] + ch)
        card = bank_card(rng)
        for ch in "0123456789":
            if ch != card[-1]:
                assert not luhn_valid(card[:-1] + ch)


@pytest.mark.parametrize("prefix", ["91", "92"])
def test_every_single_character_corruption_of_a_credit_code_is_personal(prefix: str) -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(15):
        code = uscc(rng, prefix)
        for bad in uscc_corruptions(code):
            assert not uscc_valid(bad)
            assert not is_valid_uscc(bad)
            text = f"统一社会信用代码：{bad}；"
            findings = find_entities(text)
            assert _covered_by_personal(findings, 9, 27), bad
            assert all(not f.valid for f in _at(findings, 9, 27).values() if f.entity is not Entity.BANK_CARD)


def test_every_single_digit_corruption_of_a_bank_card_is_still_masked() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(25):
        card = bank_card(rng)
        for bad in bank_card_corruptions(card):
            assert not luhn_valid(bad)
            text = f"卡号{bad}。"
            findings = find_entities(text)
            assert not _at(findings, 2, 2 + len(bad))[Entity.BANK_CARD].valid
            assert _covered_by_personal(findings, 2, 2 + len(bad)), bad


def test_fast_checksums_agree_with_the_reference_ones() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(3000):
        rid = resident_id(rng)
        candidates = [
            rid,
            rid.lower(),
            "".join(rng.choice("0123456789") for _ in range(17)) + rng.choice("0123456789X"),
        ]
        for value in candidates:
            assert resident_id_valid(value) == is_valid_resident_id(value.upper())
        code = uscc(rng, rng.choice(("91", "92", "Y1", "12")))
        for value in (code, code[:17] + rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY"), rid):
            assert uscc_valid(value) == is_valid_uscc(value)


# --- scores ---------------------------------------------------------------------------------------


def test_context_words_raise_the_score_of_an_unconfirmed_candidate() -> None:
    bad = resident_id(random.Random(4))[:17]
    bad += "0" if not resident_id_valid(bad + "0") else "1"
    plain = _at(find_entities(f"编号：{bad}"), 3, 21)[Entity.RESIDENT_ID].score
    chinese = _at(find_entities(f"身份证：{bad}"), 4, 22)[Entity.RESIDENT_ID].score
    english = _at(find_entities(f"ID card {bad}"), 8, 26)[Entity.RESIDENT_ID].score
    assert plain < chinese == english < MAX_SCORE


def test_context_further_back_than_the_window_does_not_count() -> None:
    bad = "11010519900101123" + "0"
    assert not resident_id_valid(bad)
    near = _at(find_entities(f"身份证{bad}"), 3, 21)[Entity.RESIDENT_ID].score
    far_text = "身份证" + "的" * pii_scan.CONTEXT_WINDOW + bad
    far = _at(find_entities(far_text), len(far_text) - 18, len(far_text))[Entity.RESIDENT_ID].score
    assert far < near


# --- pre-check ------------------------------------------------------------------------------------


def test_precheck_rejects_texts_without_candidates() -> None:
    for text in (
        "当事人于2023年5月在朝阳区经营，罚款人民币5000元。",
        "",
        "no digits here",
        "案号(2023)京0105民初123号",
    ):
        assert not has_candidate(text)
        assert FastScanner().scan(text) == []


def test_precheck_never_misses_a_finding() -> None:
    rng = random.Random(RNG_SEED)
    pieces = ["的", "，", " ", "-", "+86", "@", "a", "E", "(010)", "x", "1", "12345", "2023年"]
    for _ in range(3000):
        parts = [rng.choice(pieces) for _ in range(rng.randrange(1, 8))]
        if rng.random() < 0.5:
            parts.insert(
                rng.randrange(len(parts) + 1), rng.choice([mobile(rng), bank_card(rng), resident_id(rng)])
            )
        text = "".join(parts)
        if find_entities(text):
            assert has_candidate(text), text


def _random_texts(rng: random.Random, n: int) -> list[str]:
    alphabet = "0123456789" * 4 + " -@aX.的，"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 90))) for _ in range(n)]


def test_prechecks_never_miss_what_the_scanner_and_the_guard_find() -> None:
    rng = random.Random(RNG_SEED)
    candidate = re.compile(r"[0-9](?:[\s.\-]{0,3}[0-9]){5}|@")
    for text in _random_texts(rng, 20_000):
        if not pii_scan.might_leak(text):
            assert residual_entities(text) == set(), text
        if candidate.search(text):
            assert has_candidate(text), text
        else:
            assert not [f for f in find_entities(text) if f.entity is not Entity.EMAIL], text


def test_fast_scanner_equals_find_entities_when_the_precheck_passes() -> None:
    text = f"手机{mobile(random.Random(5))}"
    assert FastScanner().scan(text) == find_entities(text) != []


# --- resolving overlaps ---------------------------------------------------------------------------


def test_resolve_merges_overlaps_and_leaves_legal_person_codes_alone() -> None:
    findings = [
        Finding(Entity.BANK_CARD, 0, 18, 0.3, False),
        Finding(Entity.RESIDENT_ID, 0, 18, 1.0, True),
        Finding(Entity.USCC, 20, 38, 1.0, True),
        Finding(Entity.MOBILE, 40, 51, 1.0, True),
        Finding(Entity.LANDLINE, 45, 55, 0.4, False),
    ]
    assert resolve(findings) == [(0, 18, Entity.RESIDENT_ID), (40, 55, Entity.MOBILE)]


def test_resolve_prefers_the_higher_priority_entity_on_equal_scores() -> None:
    findings = [Finding(Entity.BANK_CARD, 0, 18, 1.0, True), Finding(Entity.RESIDENT_ID, 0, 18, 1.0, True)]
    assert resolve(findings) == [(0, 18, Entity.RESIDENT_ID)]


# --- residual guard -------------------------------------------------------------------------------


def test_residual_guard_reports_each_guarded_identifier() -> None:
    rng = random.Random(RNG_SEED)
    assert residual_entities(f"身份证{resident_id(rng)}") == {GuardEntity.RESIDENT_ID}
    assert residual_entities(f"个体户{uscc(rng, '92')}") == {GuardEntity.INDIVIDUAL_BUSINESS}
    assert residual_entities(f"企业{uscc(rng, '91')}") == set()
    assert residual_entities(f"卡{bank_card(rng)}") == {GuardEntity.BANK_CARD}
    assert residual_entities(f"tel {mobile(rng)}") == {GuardEntity.MOBILE}
    assert residual_entities("110105***********X 138****5678 ************1234") == set()


def test_residual_guard_ignores_corrupted_identifiers() -> None:
    rid = resident_id(random.Random(6))
    bad = rid[:17] + ("0" if rid[17] != "0" else "1")
    assert GuardEntity.RESIDENT_ID not in residual_entities(bad)


def test_a_resident_id_that_passes_luhn_is_not_also_a_bank_card() -> None:
    rng = random.Random(7)
    rid = next(r for r in (resident_id(rng) for _ in range(10_000)) if r[17] != "X" and luhn_valid(r))
    assert residual_entities(rid) == {GuardEntity.RESIDENT_ID}


def test_a_legal_person_code_that_passes_luhn_is_not_a_bank_card() -> None:
    rng = random.Random(8)
    while True:
        first17 = "91110105" + "".join(rng.choice("0123456789") for _ in range(9))
        code = first17 + uscc_check_char(first17)
        if code.isdigit() and luhn_valid(code):
            break
    assert uscc_valid(code)
    assert residual_entities(f"企业{code}") == set()


_REF_SEPARATORS = set(" \t\n\r\f\v-.\u00b7\u30fb\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00a0\u3000")
_REF_SEGMENTS = re.compile(r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])")


def _ref_normalize(text: str) -> tuple[str, list[int]]:
    """NFKC, ASCII upper case, and runs of 1-3 separators dropped when a digit stands on one side and a
    letter or digit on the other; returns the text and where groups were joined."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    joins: list[int] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and (text[j] in _REF_SEPARATORS or text[j].isspace()):
            j += 1
        if j > i:
            before, after = (text[i - 1] if i else ""), (text[j] if j < len(text) else "")
            alnum = before.isascii() and before.isalnum() and after.isascii() and after.isalnum()
            if j - i <= 3 and alnum and (before.isdigit() or after.isdigit()):
                joins.append(len(out))
            else:
                out.extend(text[i:j])
            i = j
            continue
        out.append(text[i].upper() if text[i].isascii() else text[i])
        i += 1
    return "".join(out), joins


def _ref_luhn(digits: str) -> bool:
    total = sum(int(d) if i % 2 == 0 else sum(divmod(2 * int(d), 10)) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _reference_residual(text: str) -> set[GuardEntity]:
    """The guard's rules written the slow, obvious way over the normalized text."""
    view, joins = _ref_normalize(text)
    found: set[GuardEntity] = set()
    claimed: list[range] = []  # the characters of valid resident IDs and credit codes
    for i in range(len(view) - 17):
        window = view[i : i + 18]
        if is_valid_resident_id(window):
            found.add(GuardEntity.RESIDENT_ID)
            claimed.append(range(i, i + 18))
        elif is_valid_uscc(window):
            claimed.append(range(i, i + 18))
            if window.startswith("92"):
                found.add(GuardEntity.INDIVIDUAL_BUSINESS)
    for m in re.finditer(r"[0-9]+", view):
        cuts = [m.start(), *(j for j in joins if m.start() < j < m.end()), m.end()]
        for a in range(len(cuts)):
            for b in range(a + 1, len(cuts)):
                if any(cuts[a] in r and cuts[b] - 1 in r for r in claimed):
                    continue
                digits, after = view[cuts[a] : cuts[b]], view[cuts[b] : cuts[b] + 1]
                number = digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
                number = digits[4:] if len(digits) == 15 and digits.startswith("0086") else number
                if len(number) == 11 and _REF_SEGMENTS.match(number):
                    found.add(GuardEntity.MOBILE)
                elif (
                    16 <= len(digits) <= 19
                    and after != "X"
                    and _ref_luhn(digits)
                    and not (len(digits) == 18 and (is_valid_resident_id(digits) or is_valid_uscc(digits)))
                ):
                    found.add(GuardEntity.BANK_CARD)
    return found


def test_the_residual_guard_agrees_with_the_obvious_implementation() -> None:
    rng = random.Random(RNG_SEED)
    texts = [free_text(rng, candidates=rng.randrange(0, 6)) for _ in range(3000)]
    for _ in range(2000):
        number, card, rid = mobile(rng), bank_card(rng), resident_id(rng)
        texts += [
            rid,
            rid + card,
            f"{rid} {card}",
            f"+86{number}",
            f"0086-{number}",
            f"86{number}",
            f"{number[:3]} {number[3:7]} {number[7:]}",
            " ".join(card[i : i + 4] for i in range(0, len(card), 4)),
            "-".join(card[i : i + 4] for i in range(0, len(card), 4)),
            f"1{number}",
            uscc(rng, "92") + "号",
            f"{rid[:17]}x",
        ]
    hits = 0
    for text in texts:
        expected = _reference_residual(text)
        assert residual_entities(text) == expected, text
        hits += bool(expected)
    assert hits > 10_000


# --- purity ---------------------------------------------------------------------------------------


def test_domain_scanning_and_operators_import_no_third_party_library() -> None:
    code = (
        "import sys, gateway.domain.desensitize.text_scan, gateway.domain.desensitize.operators\n"
        "third = ('presidio_analyzer', 'spacy', 'regex', 'cryptography', 'gmssl', 'sqlalchemy', 'fastapi')\n"
        "bad = [m for m in third if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
