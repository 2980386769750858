"""How a change to a bundle is described: the diff, the kinds of a changed decision, replay counts."""

from __future__ import annotations

from typing import Any

from gateway.domain.policy_bundle import (
    ChangeKind,
    ReplayedDecision,
    classify,
    document_difference,
    kept_input,
    summarize,
    unified_diff,
)


def allow(**fields: str) -> dict[str, Any]:
    """An allow of item ``a`` releasing ``fields`` (name -> operator)."""
    return {
        "allow": True,
        "reasons": [{"code": "allowed", "clause": "(3)", "message": "ok"}],
        "items": {
            "a": {
                "fields": sorted(fields),
                "obligations": {k: {"operator": v, "class": "name"} for k, v in fields.items()},
                "row_filters": [],
            }
        },
    }


def deny(code: str = "purpose_not_allowed") -> dict[str, Any]:
    return {"allow": False, "reasons": [{"code": code, "clause": "(3)", "message": "no"}], "items": {}}


def test_a_refusal_turned_into_an_allow_is_the_dangerous_kind_and_comes_first() -> None:
    assert classify(deny(), allow(name="mask"))[0] is ChangeKind.DENY_TO_ALLOW
    assert classify(allow(name="mask"), deny()) == (ChangeKind.ALLOW_TO_DENY, ChangeKind.REASONS)


def test_a_field_masked_before_and_clear_now_is_its_own_kind() -> None:
    assert classify(allow(name="mask"), allow(name="none")) == (ChangeKind.UNMASKED,)
    # released in clear where it was withheld before: unmasked too, and the fields changed
    assert classify(allow(), allow(name="none")) == (ChangeKind.UNMASKED, ChangeKind.FIELDS)
    # another operator that is not clear is an obligation change, not an unmasking
    assert classify(allow(name="mask"), allow(name="pseudonymize")) == (ChangeKind.OBLIGATIONS,)
    assert classify(allow(name="none"), allow(name="mask")) == (ChangeKind.OBLIGATIONS,)


def test_only_the_reasons_changed() -> None:
    assert classify(deny("a"), deny("b")) == (ChangeKind.REASONS,)
    assert classify(deny("a"), deny("a")) == ()
    assert classify(allow(name="mask"), allow(name="mask")) == ()


def test_a_broken_side_is_an_error() -> None:
    assert classify(deny(), None) == (ChangeKind.ERROR,)
    assert classify({"error": "policy_engine_error"}, deny()) == (ChangeKind.ERROR,)


def test_replay_counts_are_exact_and_grouped_by_kind() -> None:
    replayed = [
        ReplayedDecision(1, deny(), deny()),
        ReplayedDecision(2, deny(), allow(name="mask")),
        ReplayedDecision(3, allow(name="mask"), allow(name="none")),
        ReplayedDecision(4, allow(name="mask"), deny()),
        ReplayedDecision(5, deny("x"), deny("y")),
        ReplayedDecision(6, None, None, error="bad input"),
        ReplayedDecision(7, allow(name="mask"), allow(name="mask")),
    ]
    summary = summarize(replayed, base_revision="r1", draft_revision="r2")
    assert (summary.total, summary.unchanged, summary.changed, summary.errors) == (7, 2, 4, 1)
    assert summary.by_kind["deny_to_allow"] == [2]
    assert summary.by_kind["field_unmasked"] == [3]
    assert summary.by_kind["allow_to_deny"] == [4]
    assert summary.by_kind["reasons_changed"] == [2, 4, 5]
    assert summary.by_kind["error"] == [6]
    report = summary.as_dict()
    assert report["dangerous"] == 2
    assert [c["ledger_index"] for c in report["changes"]] == [2, 3, 4, 5]
    assert [c["dangerous"] for c in report["changes"]] == [True, True, False, False]
    assert summary.digest.startswith("sha256:")
    other = summarize(replayed[:-1], base_revision="r1", draft_revision="r2")
    assert other.digest != summary.digest


def test_the_difference_lists_changed_leaves() -> None:
    difference = document_difference(allow(name="mask"), allow(name="none"))
    assert {"path": "items.a.obligations.name.operator", "before": "mask", "after": "none"} in difference
    assert all(d["path"] != "allow" for d in difference)


def test_the_diff_names_each_changed_file() -> None:
    diff = unified_diff({"a.rego": b"x\ny\n", "b.rego": b"same\n"}, {"a.rego": b"x\nz\n", "c.rego": b"new\n"})
    assert "--- a/a.rego\n+++ b/a.rego\n" in diff
    assert "-y\n+z\n" in diff
    assert "--- a/b.rego\n+++ /dev/null\n" in diff
    assert "--- /dev/null\n+++ b/c.rego\n" in diff


def test_the_kept_input_is_canonical_and_its_digest_follows() -> None:
    text, digest = kept_input({"b": 1, "a": [1, "中"]})
    assert text == '{"a":[1,"中"],"b":1}'
    assert kept_input({"a": [1, "中"], "b": 1}) == (text, digest)
    assert kept_input({"a": [1, "中"], "b": 2})[1] != digest
