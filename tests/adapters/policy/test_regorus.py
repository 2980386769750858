"""The embedded regorus engine: loading, revision, real decisions on the shipped catalog, failing closed."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters.policy.regorus import (
    INDEX_FRAME,
    INDEX_KEY,
    RegorusEngine,
    canonical_index,
    load_policy_sources,
    sources_revision,
)
from gateway.domain.catalog import FieldClass, Operator, build_catalog
from gateway.domain.decision import RowFilter, parse_decision
from gateway.errors import ConfigurationError, PolicyEngineError
from tests.support.policy_inputs import (
    ADULT,
    DECISION,
    LEGAL_PERSON,
    MINOR,
    POLICIES_DIR,
    REFUSALS,
    decision_input,
    grant_for,
    one_item,
)


@pytest.fixture(scope="module")
def engine() -> RegorusEngine:
    return RegorusEngine(POLICIES_DIR)


@pytest.fixture(scope="module")
def catalog_revision(engine: RegorusEngine) -> str:
    revision = engine.evaluate("gateway.catalog.revision", {})
    assert isinstance(revision, str)
    return revision


@pytest.fixture
def policies_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    return target


def _decide(engine: RegorusEngine, document: dict[str, Any]) -> dict[str, Any]:
    result = engine.evaluate(DECISION, document)
    assert isinstance(result, dict)
    return result


# --- loading ---------------------------------------------------------------------------------------


def test_serving_loads_policies_without_their_tests() -> None:
    sources = load_policy_sources(POLICIES_DIR)
    names = [rel for rel, _ in sources.modules]
    assert "gateway/query/query.rego" in names
    assert not [n for n in names if n.endswith("_test.rego")]


def test_test_run_loads_the_tests_too() -> None:
    sources = load_policy_sources(POLICIES_DIR, include_tests=True)
    assert "gateway/query/query_test.rego" in [rel for rel, _ in sources.modules]


def test_catalog_files_become_data_at_their_directory_path() -> None:
    sources = load_policy_sources(POLICIES_DIR)
    assert "catalog/national/data.yaml" in sources.data_files
    assert sources.data["catalog"]["national"]["kind"] == "national"
    assert sources.data["catalog"]["local_zhejiang"]["kind"] == "local"


def test_yaml_dates_stay_strings_as_in_opa(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "data.yaml").write_text("revision: 2026-11-01\n")
    assert load_policy_sources(tmp_path).data == {"settings": {"revision": "2026-11-01"}}


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    (tmp_path / "data.yaml").write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigurationError, match="duplicate key"):
        load_policy_sources(tmp_path)


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        RegorusEngine(tmp_path / "nowhere")


def test_policy_that_does_not_parse_stops_startup(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "broken.rego").write_text("package gateway.broken\n\nx := {\n")
    with pytest.raises(ConfigurationError, match=r"broken\.rego"):
        RegorusEngine(policies_copy)


def test_policy_catalog_revision_matches_the_gateways(catalog_revision: str) -> None:
    documents = load_policy_sources(POLICIES_DIR).data["catalog"]
    assert catalog_revision == build_catalog(documents).revision


def test_the_catalog_index_is_derived_at_load_and_loaded_as_data() -> None:
    sources = load_policy_sources(POLICIES_DIR)
    assert sources.index is not None
    assert sources.index["catalog_revision"] == build_catalog(sources.data["catalog"]).revision
    assert "market.admin_penalty" in sources.index["plans"]["admin_licensing_review"]
    assert json.loads(sources.data_json)[INDEX_KEY] == sources.index
    assert INDEX_KEY not in sources.data  # the files' data stays as the files hold it


def test_the_catalog_index_digest_is_part_of_the_revision() -> None:
    sources = load_policy_sources(POLICIES_DIR)
    assert sources.index is not None
    files = {rel: (POLICIES_DIR / rel).read_bytes() for rel, _ in sources.modules}
    files.update({rel: (POLICIES_DIR / rel).read_bytes() for rel in sources.data_files})
    assert sources_revision(files) != sources.revision
    files[INDEX_FRAME] = canonical_index(sources.index)
    assert sources_revision(files) == sources.revision


def test_policies_without_an_index_package_load_without_one(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nx := 1\n")
    assert load_policy_sources(tmp_path).index is None


def test_policy_data_may_not_define_the_catalog_index(policies_copy: Path) -> None:
    (policies_copy / INDEX_KEY).mkdir()
    (policies_copy / INDEX_KEY / "data.json").write_text('{"catalog_revision": "x"}')
    with pytest.raises(ConfigurationError, match=INDEX_KEY):
        load_policy_sources(policies_copy)


def test_catalogs_the_index_cannot_be_built_from_leave_it_out(policies_copy: Path) -> None:
    # Two local catalogs defining one item differently: the full evaluation fails on every query
    # (a conflict, so a refusal), and there is no index to decide any of them otherwise.
    local = policies_copy / "catalog" / "local_zhejiang" / "data.yaml"
    other = policies_copy / "catalog" / "local_other"
    other.mkdir()
    text = local.read_text(encoding="utf-8")
    (other / "data.yaml").write_text(
        text.replace("name: 限制消费令信息", "name: 另一个名称", 1), encoding="utf-8"
    )
    sources = load_policy_sources(policies_copy)
    assert sources.index is None


# --- revision --------------------------------------------------------------------------------------


def test_revision_is_a_sha256_digest(engine: RegorusEngine) -> None:
    assert engine.revision.startswith("sha256:")
    assert len(engine.revision) == len("sha256:") + 64


def test_revision_is_stable_across_loads(policies_copy: Path) -> None:
    assert RegorusEngine(policies_copy).revision == RegorusEngine(policies_copy).revision


def test_revision_does_not_depend_on_the_directory(policies_copy: Path) -> None:
    assert RegorusEngine(policies_copy).revision == RegorusEngine(POLICIES_DIR).revision


def test_revision_changes_when_a_policy_changes(policies_copy: Path) -> None:
    before = RegorusEngine(policies_copy).revision
    query = policies_copy / "gateway" / "query" / "query.rego"
    query.write_text(query.read_text() + "\n# reviewed\n")
    assert RegorusEngine(policies_copy).revision != before


def test_revision_changes_when_the_catalog_changes(policies_copy: Path) -> None:
    before = RegorusEngine(policies_copy).revision
    catalog = policies_copy / "catalog" / "national" / "data.yaml"
    catalog.write_text(catalog.read_text().replace('revision: "2026-11-01"', 'revision: "2026-11-02"'))
    assert RegorusEngine(policies_copy).revision != before


def test_revision_changes_when_a_file_is_added(policies_copy: Path) -> None:
    before = RegorusEngine(policies_copy).revision
    (policies_copy / "gateway" / "extra.rego").write_text("package gateway.extra\n\nx := 1\n")
    assert RegorusEngine(policies_copy).revision != before


def test_revision_ignores_tests_which_never_decide(policies_copy: Path) -> None:
    before = RegorusEngine(policies_copy).revision
    test = policies_copy / "gateway" / "query" / "query_test.rego"
    test.write_text(test.read_text() + "\n# reviewed\n")
    assert RegorusEngine(policies_copy).revision == before


# --- decisions against the shipped catalog ------------------------------------------------------------


def test_statutory_review_is_allowed(engine: RegorusEngine, catalog_revision: str) -> None:
    decision = parse_decision(_decide(engine, decision_input(catalog_revision)), engine.revision)
    assert decision.allow
    item = decision.items["court.dishonest_debtor"]
    assert item.fields == (
        "case_number",
        "court_name",
        "listed_on",
        "name",
        "performance_status",
        "subject_id",
    )
    assert item.obligations["subject_id"].operator is Operator.MASK
    assert item.row_filters == (
        RowFilter("exclude_repaired"),
        RowFilter("exclude_removed"),
        RowFilter("within_disclosure_period", 2),
        RowFilter("basis_document_accepted", types=("arbitration_award", "judgment", "mediation_statement")),
    )


def test_requested_fields_are_all_that_is_released(engine: RegorusEngine, catalog_revision: str) -> None:
    document = decision_input(catalog_revision, items=one_item("court.dishonest_debtor", ["listed_on"]))
    decision = parse_decision(_decide(engine, document), engine.revision)
    assert decision.items["court.dishonest_debtor"].fields == ("listed_on",)


@pytest.mark.parametrize(("changes", "code", "item"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refusal_names_its_code_and_item(
    engine: RegorusEngine, catalog_revision: str, changes: dict[str, Any], code: str, item: str | None
) -> None:
    decision = parse_decision(_decide(engine, decision_input(catalog_revision, **changes)), engine.revision)
    assert not decision.allow
    assert decision.items == {}
    matching = [r for r in decision.reasons if r.code == code]
    assert matching, [r.code for r in decision.reasons]
    assert matching[0].item == item
    assert matching[0].clause.startswith("(")


def test_refusals_cite_the_clause_of_their_rule(engine: RegorusEngine, catalog_revision: str) -> None:
    document = decision_input(catalog_revision, purpose="credit_evaluation", subjects=[ADULT])
    reasons = _decide(engine, document)["reasons"]
    assert {"code": "personal_information_needs_duty_or_grant", "clause": "(14)"}.items() <= reasons[
        0
    ].items()


def test_grant_releases_personal_information_without_statutory_duty(
    engine: RegorusEngine, catalog_revision: str
) -> None:
    grant = grant_for(ADULT, ["court.dishonest_debtor"], "credit_evaluation")
    document = decision_input(catalog_revision, purpose="credit_evaluation", subjects=[ADULT], grant=grant)
    decision = parse_decision(_decide(engine, document), engine.revision)
    assert decision.allow
    assert [r.code for r in decision.reasons] == ["legal_basis_listed", "grant"]


def test_revoked_grant_is_refused_with_its_reason(engine: RegorusEngine, catalog_revision: str) -> None:
    grant = grant_for(ADULT, ["court.dishonest_debtor"], "credit_evaluation", revoked=True)
    document = decision_input(catalog_revision, purpose="credit_evaluation", subjects=[ADULT], grant=grant)
    decision = parse_decision(_decide(engine, document), engine.revision)
    assert not decision.allow
    # A presented grant explains its own refusal; the generic reason is for queries with no grant.
    assert decision.primary_code == "grant_revoked"
    assert "personal_information_needs_duty_or_grant" not in {r.code for r in decision.reasons}


def test_minor_gets_personal_fields_suppressed(engine: RegorusEngine, catalog_revision: str) -> None:
    decision = parse_decision(
        _decide(engine, decision_input(catalog_revision, subjects=[MINOR])), engine.revision
    )
    obligations = decision.items["court.dishonest_debtor"].obligations
    assert obligations["name"].operator is Operator.SUPPRESS
    assert obligations["subject_id"].operator is Operator.MASK
    assert obligations["subject_id"].field_class is FieldClass.SUBJECT_ID
    assert obligations["case_number"].operator is Operator.NONE
    assert "minor_prudence" in {r.code for r in decision.reasons}


def test_adult_keeps_default_obligations(engine: RegorusEngine, catalog_revision: str) -> None:
    decision = parse_decision(
        _decide(engine, decision_input(catalog_revision, subjects=[ADULT])), engine.revision
    )
    assert decision.items["court.dishonest_debtor"].obligations["name"].operator is Operator.MASK


def test_listed_measure_is_allowed(engine: RegorusEngine, catalog_revision: str) -> None:
    document = decision_input(
        catalog_revision,
        purpose="disciplinary_measure",
        measure="restrict_high_consumption",
        requester={"client_id": "dr", "department": "development_reform"},
    )
    decision = parse_decision(_decide(engine, document), engine.revision)
    assert decision.allow
    assert "measure_listed" in {r.code for r in decision.reasons}


def test_local_item_is_decided_from_the_local_catalog(engine: RegorusEngine, catalog_revision: str) -> None:
    document = decision_input(
        catalog_revision,
        purpose="credit_supervision",
        items=one_item("local.court.consumption_restriction"),
        subjects=[LEGAL_PERSON],
    )
    decision = parse_decision(_decide(engine, document), engine.revision)
    assert decision.allow
    assert decision.items["local.court.consumption_restriction"].row_filters == (
        RowFilter("exclude_removed"),
        RowFilter("basis_document_accepted", types=("ruling",)),
    )


# --- failing closed ---------------------------------------------------------------------------------


def test_undefined_rule_is_none(engine: RegorusEngine, catalog_revision: str) -> None:
    assert engine.evaluate("gateway.request.minor_subject", decision_input(catalog_revision)) is None


def test_missing_rule_is_none_like_opa(engine: RegorusEngine) -> None:
    assert engine.evaluate("gateway.query.no_such_rule", {}) is None


def test_defined_rule_is_its_value(engine: RegorusEngine, catalog_revision: str) -> None:
    document = decision_input(catalog_revision, subjects=[MINOR])
    assert engine.evaluate("gateway.request.minor_subject", document) is True


PROBE = """package probe

undefined_rule := 1 if input.never

looks_undefined := "<undefined>"

null_rule := null

objects contains {"a": 1} if true

keyed[k] := 1 if some k in ["x"]
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("probe.undefined_rule", None),
        ("probe.looks_undefined", "<undefined>"),
        ("probe.null_rule", None),
        ("probe.objects", [{"a": 1}]),
        ("probe.keyed", {"x": 1}),
        ("probe.keyed.x", 1),
        ("probe.keyed.y", None),
        (
            "probe",
            {"looks_undefined": "<undefined>", "null_rule": None, "objects": [{"a": 1}], "keyed": {"x": 1}},
        ),
        ("probe.no_such_rule", None),
    ],
)
def test_every_kind_of_path_answers_as_opa(tmp_path: Path, path: str, expected: Any) -> None:
    """The fast rule evaluation and its fallback to a query answer what OPA's Data API would."""
    (tmp_path / "probe.rego").write_text(PROBE)
    assert RegorusEngine(tmp_path).evaluate(path, {}) == expected


def test_policy_error_is_a_policy_engine_error(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "boom.rego").write_text("package gateway.boom\n\nx := 1 / input.zero\n")
    engine = RegorusEngine(policies_copy)
    with pytest.raises(PolicyEngineError):
        engine.evaluate("gateway.boom.x", {"zero": 0})


def test_conflicting_values_are_a_policy_engine_error(policies_copy: Path) -> None:
    (policies_copy / "gateway" / "boom.rego").write_text(
        "package gateway.boom\n\nx := 1 if input.a\n\nx := 2 if input.a\n"
    )
    engine = RegorusEngine(policies_copy)
    with pytest.raises(PolicyEngineError):
        engine.evaluate("gateway.boom.x", {"a": True})


def test_conflicting_local_catalogs_are_a_policy_engine_error(
    policies_copy: Path, catalog_revision: str
) -> None:
    other = policies_copy / "catalog" / "local_other"
    other.mkdir()
    local = (policies_copy / "catalog" / "local_zhejiang" / "data.yaml").read_text()
    other.joinpath("data.yaml").write_text(local.replace("name: 限制消费令信息", "name: 另一个定义"))
    engine = RegorusEngine(policies_copy)
    with pytest.raises(PolicyEngineError):
        engine.evaluate(DECISION, decision_input(catalog_revision))


def test_input_that_is_not_json_is_a_policy_engine_error(engine: RegorusEngine) -> None:
    with pytest.raises(PolicyEngineError):
        engine.evaluate(DECISION, {"now": object()})


def test_invalid_entrypoint_is_a_policy_engine_error(engine: RegorusEngine) -> None:
    with pytest.raises(PolicyEngineError):
        engine.evaluate("gateway/query/decision", {})


def test_engine_is_built_once_per_thread(policies_copy: Path, catalog_revision: str) -> None:
    engine = RegorusEngine(policies_copy)
    for _ in range(3):
        engine.evaluate(DECISION, decision_input(catalog_revision))
    assert engine.engines_built == 1


def test_threads_get_their_own_engines_and_the_same_decisions(catalog_revision: str) -> None:
    engine = RegorusEngine(POLICIES_DIR)
    documents = [decision_input(catalog_revision)] + [
        decision_input(catalog_revision, **c[1]) for c in REFUSALS
    ]
    expected = [engine.evaluate(DECISION, d) for d in documents]
    start = threading.Barrier(4)

    def run(index: int) -> list[Any]:
        start.wait()  # all four threads evaluate at the same time
        return [
            engine.evaluate(DECISION, documents[(index + i) % len(documents)]) for i in range(len(documents))
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(run, range(4)))
    for index, outcome in enumerate(outcomes):
        assert outcome == [expected[(index + i) % len(documents)] for i in range(len(documents))]
    assert engine.engines_built == 5  # the constructing thread's, then one per worker
