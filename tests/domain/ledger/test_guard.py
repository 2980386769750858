"""The identifier guard every record passes."""

from __future__ import annotations

from gateway.domain.ledger.guard import contains_identifier
from tests.support.ledger import resident_id, uscc


def test_the_identifier_guard_spares_digests_and_commitments() -> None:
    assert contains_identifier(f"身份证{resident_id(5)}号")
    assert contains_identifier(f'"{uscc(7)}"')
    assert contains_identifier(f"x{resident_id(5)}")  # letters are no boundary an ID needs
    assert not contains_identifier(f'"{resident_id(5)[:-1]}"')  # 17 characters
    bad_check = resident_id(5)[:-1] + ("0" if resident_id(5)[-1] != "0" else "1")
    assert not contains_identifier(f'"{bad_check}"')
    digest = "1101011990030700" + "54" + "ab" * 23  # a hex digest that starts like an ID
    assert not contains_identifier(f'"{digest}"')


# --- the record check refuses everything the whole-text check refuses ---------------------------

import json  # noqa: E402
import random  # noqa: E402
from typing import Any  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gateway.domain.ledger.envelope import canonical_json  # noqa: E402
from gateway.domain.ledger.guard import record_holds_identifier  # noqa: E402
from tests.support import pii  # noqa: E402

_FULL_WIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "".join(chr(0xFF10 + i) for i in range(10))
    + "".join(chr(0xFF21 + i) for i in range(26))
    + "".join(chr(0xFF41 + i) for i in range(26)),
)
_SEPARATORS = (" ", "-", "\u3000", "\u2014", ".", "\u00b7", "  ", "\n", "\t")


def _grouped(value: str, rng: random.Random) -> str:
    """The value in groups, with separators people type between them."""
    cuts = sorted(rng.sample(range(1, len(value)), k=rng.randint(1, 4)))
    parts = [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True)]
    return "".join(p + rng.choice(_SEPARATORS) for p in parts[:-1]) + parts[-1]


@st.composite
def written_identifier(draw: st.DrawFn) -> str:
    """A valid identifier, written as a person might: lower case, full-width, grouped, letter-prefixed."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    kind = draw(st.sampled_from(["resident", "uscc", "business", "card", "mobile"]))
    value = {
        "resident": lambda: pii.resident_id(rng),
        "uscc": lambda: pii.uscc(rng),
        "business": lambda: pii.uscc(rng, "92"),
        "card": lambda: pii.bank_card(rng),
        "mobile": lambda: pii.mobile(rng),
    }[kind]()
    if draw(st.booleans()):
        value = value.lower()
    if draw(st.booleans()):
        value = _grouped(value, rng)
    if draw(st.booleans()):
        value = value.translate(_FULL_WIDTH)
    prefix = draw(st.sampled_from(["", "ID", "依据", "No.", "x", "证号：", "sha256:", "{", '"']))
    suffix = draw(st.sampled_from(["", "申请", "号", "X", "0", "]", "\\"]))
    return prefix + value + suffix


_text = st.one_of(
    written_identifier(),
    st.text(max_size=30),
    st.text(alphabet="0123456789abcdef-: X\u3000\uff10\uff11", max_size=40),
    st.sampled_from(["allow", "court_judgment_dishonest", "《社会信用体系建设法》第十二条", "a" * 64]),
)
_scalar = st.one_of(_text, st.integers(-(10**19), 10**19), st.none(), st.booleans())
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_text, _value, min_size=1, max_size=6))
def test_the_record_check_refuses_every_record_the_whole_text_check_refuses(record: dict[str, Any]) -> None:
    record = {"kind": "query", **record}
    text = canonical_json(record).decode()
    if contains_identifier(text):
        assert record_holds_identifier(record, text)
        assert record_holds_identifier(record)


@settings(max_examples=300, deadline=None)
@given(written_identifier(), st.sampled_from(["legal_basis", "grant_id", "comment", "reference"]))
def test_an_identifier_in_any_written_form_in_any_field_is_refused(value: str, name: str) -> None:
    record = {"kind": "query", "items": [{"item": "x", "fields": [], "rows": 0}], name: value}
    if contains_identifier(value) or contains_identifier(json.dumps(value, ensure_ascii=False)):
        assert record_holds_identifier(record)


def test_the_record_check_reads_a_string_before_json_escapes_it() -> None:
    # In the JSON text a newline is a backslash and an "n": the whole text reads two numbers here.
    value = resident_id(5)[:6] + "\n" + resident_id(5)[6:]
    assert record_holds_identifier({"kind": "query", "legal_basis": value})


def test_the_record_check_passes_the_gateways_own_digests_and_refuses_ids_in_numbers() -> None:
    digest = "1101011990030700" + "54" + "ab" * 23
    assert not record_holds_identifier({"kind": "query", "response_digest": f"sha256:{digest}"})
    assert record_holds_identifier({"kind": "query", "rows": int(resident_id(5)[:-1] + "0")}) == (
        contains_identifier(resident_id(5)[:-1] + "0")
    )
    assert record_holds_identifier({"kind": "query", "grant_id": f"grant-{resident_id(5)}"})
    assert record_holds_identifier({"kind": "query", f"key{uscc(7)}": 1})
