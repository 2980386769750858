"""The policies on REAL OPA: our ``opa test policies/``, and decision parity with the embedded engine.

Real OPA is the ``opa`` binary when it is on PATH, else OPA's Go library (``opa_bindings``) behind
``GoOpaBackedServer``; both are reached over OPA's Data API (tests/support/real_opa.py). Without
either, these tests are skipped, and on CI they fail.

* Every ``test_`` rule of every module passes on real OPA (the same rules ``gateway policy test``
  runs on regorus), and real OPA finds no ``test_`` rule that the source scan misses.
* The data document real OPA builds from the data files is the one the embedded engine loads.
* Parity corpora: ``data.gateway.query.decision`` over the shipped catalog (every item, purpose,
  department, subject kind and minor flag, grants present, absent, revoked, expired, not yet valid,
  for another subject; field lists, measures, several items, malformed requests), and
  ``data.gateway.grants.registration`` over grant shapes: regorus and real OPA answer the same
  document, lists in the same order.
* Strictness: OPA's strict compiler mode is not reachable through the Go library (its C API takes no
  options), so ``opa check --strict`` is approximated with OPA's own parser (``rego.parse_module``):
  no unused import, function argument or ``:=`` local, no non-deterministic builtin in a policy. The
  Rego v1 compiler already refuses deprecated builtins, duplicate imports and shadowed input/data.
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import itertools
import json
import random
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.adapters.policy.rego_tests import declared_tests, run_policy_tests
from gateway.adapters.policy.regorus import RegorusEngine, build_engine, evaluate_rule, load_policy_sources
from gateway.domain.lists import STEPS
from gateway.errors import PolicyEngineError
from tests.support.policy_inputs import (
    ADULT,
    DECISION,
    INDIVIDUAL_BUSINESS,
    LEGAL_PERSON,
    MINOR,
    NOW,
    POLICIES_DIR,
    decision_input,
    grant_for,
)
from tests.support.real_opa import (
    LIBRARY,
    go_opa_engine,
    missing_real_opa,
    opa_binary,
    real_opa_kind,
    real_opa_server,
)

REGISTRATION = "gateway.grants.registration"


class DataApiClient:
    """POST /v1/data/{path} over one keep-alive connection: (status, body)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def post(self, path: str, input_document: Any = None) -> tuple[int, dict[str, Any]]:
        body = {} if input_document is None else {"input": input_document}
        self._connection.request(
            "POST",
            "/v1/data/" + path.replace(".", "/"),
            body=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        response = self._connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def value(self, path: str, input_document: Any = None) -> Any:
        """The rule's value; None when undefined; AssertionError when OPA does not answer 200."""
        status, body = self.post(path, input_document)
        assert status == 200, f"OPA answered {status} for data.{path}: {body}"
        return body.get("result")

    def close(self) -> None:
        self._connection.close()


@pytest.fixture(scope="module")
def opa() -> Iterator[DataApiClient]:
    """Real OPA with every module (tests included) and data file of policies/."""
    if real_opa_kind() is None:
        missing_real_opa("running the policies on real OPA")
    with real_opa_server(POLICIES_DIR, include_tests=True) as (url, _kind):
        client = DataApiClient(url)
        yield client
        client.close()


@pytest.fixture(scope="module")
def regorus() -> RegorusEngine:
    return RegorusEngine(POLICIES_DIR)


@pytest.fixture(scope="module")
def revision(regorus: RegorusEngine) -> str:
    value = regorus.evaluate("gateway.catalog.revision", {})
    assert isinstance(value, str)
    return value


# --- opa test policies/ ----------------------------------------------------------------------------


def _declared() -> list[tuple[str, str, str]]:
    """(file, package, rule) for every ``test_`` rule the sources declare, as ``gateway policy test``."""
    sources = load_policy_sources(POLICIES_DIR, include_tests=True)
    found: list[tuple[str, str, str]] = []
    for rel, text in sources.modules:
        package, names = declared_tests(text)
        found.extend((rel, package, name) for name in names)
    return found


def test_every_rego_test_passes_on_real_opa(opa: DataApiClient) -> None:
    declared = _declared()
    failures = []
    for package in sorted({p for _, p, _ in declared}):
        # One query per package: the Go library compiles every module again for each new query
        # (~0.1 s), so the package document is evaluated whole, and a test only on its own when
        # the package does not evaluate.
        status, body = opa.post(package)
        document = body.get("result") if status == 200 else None
        for rel, _, name in (entry for entry in declared if entry[1] == package):
            if isinstance(document, dict):
                outcome = document.get(name, "undefined")
            else:
                status, body = opa.post(f"{package}.{name}")
                outcome = body.get("result", "undefined") if status == 200 else body.get("message")
            if outcome is not True:
                failures.append(f"{rel}: data.{package}.{name}: {outcome}")
    assert not failures, f"{len(failures)} of {len(declared)} Rego tests fail on real OPA:\n" + "\n".join(
        failures
    )
    # The same suite as `gateway policy test` (regorus), every one of which passes there too.
    report = run_policy_tests(POLICIES_DIR)
    assert report.ok
    assert {r.rule for r in report.results} == {f"data.{p}.{n}" for _, p, n in declared}
    assert len(declared) >= 190


def test_real_opa_sees_no_test_the_source_scan_misses(opa: DataApiClient) -> None:
    declared = _declared()
    for package in sorted({p for _, p, _ in declared}):
        document = opa.value(package)
        assert isinstance(document, dict)
        on_opa = {key for key in document if key.startswith("test_")}
        assert on_opa == {n for _, p, n in declared if p == package}, package


def test_each_test_name_is_declared_once_per_package() -> None:
    # `opa test` runs each body of a rule declared twice on its own; evaluating the rule (as above)
    # would hide a failing body behind a passing one.
    seen: dict[tuple[str, str], int] = {}
    for rel, text in load_policy_sources(POLICIES_DIR, include_tests=True).modules:
        package, _ = declared_tests(text)
        for line in text.splitlines():
            if line.startswith("test_"):
                name = line.split()[0].split("(")[0]
                seen[package, name] = seen.get((package, name), 0) + 1
                assert seen[package, name] == 1, f"{rel}: {name} declared twice"


def test_real_opa_loads_the_data_the_embedded_engine_loads(opa: DataApiClient) -> None:
    sources = load_policy_sources(POLICIES_DIR)
    data = sources.data
    assert set(data) == {"catalog", "grant_settings"}
    for key, value in data.items():
        assert opa.value(key) == value
    # The catalog index OPA derives from that data is the one the gateway derives and loads.
    assert sources.index is not None
    assert sources.index["plans"]
    assert opa.value("catalog_index") == sources.index


# --- parity corpora --------------------------------------------------------------------------------


def _catalog() -> dict[str, Any]:
    merged: dict[str, dict[str, Any]] = {"items": {}, "purposes": {}, "departments": {}, "measures": {}}
    for catalog in load_policy_sources(POLICIES_DIR).data["catalog"].values():
        for section, entries in merged.items():
            entries.update(catalog.get(section) or {})
    return merged


# Values of the wrong type, for every key of a request or a grant.
ODD_VALUES: tuple[Any, ...] = (None, "", [], {}, 0, True)

SUBJECTS: list[dict[str, Any]] = [
    LEGAL_PERSON,
    INDIVIDUAL_BUSINESS,
    ADULT,
    MINOR,
    {"kind": "natural_person", "id_type": "resident_id", "commitment": "c-no-minor-flag"},
]


def _grants(subject: dict[str, Any], item: str, purpose: str) -> list[dict[str, Any] | None]:
    """No grant, a grant in force, revoked, expired, not yet valid, and another subject's."""
    grant = grant_for(subject, [item], purpose)
    return [
        None,
        grant,
        {**grant, "revoked": True},
        {**grant, "valid_from": "2025-01-01T00:00:00Z", "valid_until": "2025-06-01T00:00:00Z"},
        {**grant, "valid_from": "2026-12-01T00:00:00Z"},
        {**grant, "subject_commitment": "c-somebody-else"},
    ]


def decision_corpus(revision: str) -> list[dict[str, Any]]:
    """Query inputs built from the shipped catalog (see the module docstring)."""
    catalog = _catalog()
    items = sorted(catalog["items"])
    purposes = [*sorted(catalog["purposes"]), "curiosity"]
    departments = [*sorted(catalog["departments"]), "nobody"]
    measures = [*sorted(catalog["measures"]), "public_shaming", None]
    corpus: list[dict[str, Any]] = []
    statutory = {p for p, entry in catalog["purposes"].items() if entry.get("statutory_duty") is True}
    rotation = itertools.cycle(departments)
    # Every item x purpose x subject, the requester rotating through the departments. Personal
    # subjects come with each grant state (absent, in force, revoked, expired, not yet valid,
    # another subject's) where a grant matters, and absent or in force under a statutory duty.
    for item, purpose, subject in itertools.product(items, purposes, SUBJECTS):
        grants = _grants(subject, item, purpose)
        if subject is LEGAL_PERSON:
            grants = grants[:1]
        elif purpose in statutory:
            grants = grants[:2]
        for grant in grants:
            department = next(rotation)
            corpus.append(
                decision_input(
                    revision,
                    requester={"client_id": f"{department}-app", "department": department},
                    purpose=purpose,
                    measure="restrict_high_consumption" if purpose == "disciplinary_measure" else None,
                    items=[{"id": item, "fields": None}],
                    subjects=[subject],
                    grant=None if grant is None else {**grant, "recipient": department},
                )
            )
    # Every department x item, for a legal person, for a purpose of each scope.
    for department, item, purpose in itertools.product(
        departments, items, ["admin_licensing_review", "credit_supervision"]
    ):
        corpus.append(
            decision_input(
                revision,
                requester={"client_id": "app", "department": department},
                purpose=purpose,
                items=[{"id": item, "fields": None}],
            )
        )
    # Every field of every item, one at a time, the purpose rotating; and one unknown field.
    purpose_rotation = itertools.cycle(purposes[:-1])
    for item in items:
        for field in [*sorted(catalog["items"][item]["fields"]), "shoe_size"]:
            corpus.append(
                decision_input(
                    revision,
                    requester={"client_id": "app", "department": "development_reform"},
                    purpose=next(purpose_rotation),
                    items=[{"id": item, "fields": [field]}],
                )
            )
    # Measures, applied or not, on every item.
    for item, measure, purpose in itertools.product(
        items, measures, ["disciplinary_measure", "credit_supervision"]
    ):
        corpus.append(
            decision_input(
                revision,
                requester={"client_id": "app", "department": "development_reform"},
                purpose=purpose,
                measure=measure,
                items=[{"id": item, "fields": None}],
                subjects=[LEGAL_PERSON, ADULT],
            )
        )
    # Measures against subjects on lists or with prudence facts, by departments the measure names or not,
    # with a listed legal basis code, a free-text one and a code of another purpose.
    facts = [
        {},
        {"lists": ["market_serious_illegal"]},
        {"lists": ["another_list"]},
        {"minor_at_conduct": True},
        {"force_majeure": True},
        {"unintentional_minor": True},
        {"lists": None},
        {"force_majeure": None},
    ]
    for measure, fact, department in itertools.product(
        [m for m in measures if m is not None], facts, ["development_reform", "market_regulation", "housing"]
    ):
        for subject in (LEGAL_PERSON, ADULT):
            changed = {k: v for k, v in {**subject, **fact}.items() if v is not None}
            corpus.append(
                decision_input(
                    revision,
                    requester={"client_id": "app", "department": department},
                    purpose="disciplinary_measure",
                    measure=measure,
                    items=[{"id": "market.admin_penalty", "fields": None}],
                    subjects=[changed],
                )
            )
    for basis in ("admin_licensing_law_34", "admin_licensing_law_31", "随便", "pipl_13_23", "", None, 7):
        corpus.append(decision_input(revision, legal_basis=basis))
    # Several items at once, with and without a grant covering some of them.
    for first, second in itertools.combinations(items, 2):
        both = [{"id": first, "fields": None}, {"id": second, "fields": None}]
        corpus.append(decision_input(revision, purpose="credit_supervision", items=both))
        grant = grant_for(ADULT, [first], "credit_evaluation")
        corpus.append(
            decision_input(revision, purpose="credit_evaluation", items=both, subjects=[ADULT], grant=grant)
        )
    # Odd requests presenting a grant (the grant rules read the request too).
    debtor = "court.dishonest_debtor"
    limited = grant_for(ADULT, [debtor], "credit_evaluation", fields={debtor: ["listed_on"]})
    odd_requests: list[dict[str, Any]] = [
        {"items": [{"fields": None}]},
        {"items": [{"id": debtor}]},
        {"items": [debtor]},
        {"items": [{"id": debtor, "fields": ["listed_on"]}, {"fields": ["listed_on"]}]},
        {"items": [{"id": debtor, "fields": "listed_on"}]},
        {"items": None},
        {"subjects": [{}]},
        {"subjects": [{"kind": "natural_person"}]},
        {"subjects": ["c-adult"]},
        {"subjects": None},
        {"requester": {}},
        {"requester": None},
        {"purpose": {"code": "credit_evaluation"}},
        {"purpose": None},
        {"now": None},
    ]
    for grant in (grant_for(ADULT, [debtor], "credit_evaluation"), limited):
        for changes in odd_requests:
            corpus.append(
                decision_input(
                    revision,
                    **{"purpose": "credit_evaluation", "subjects": [ADULT], "grant": grant, **changes},
                )
            )
        for key in sorted(grant):
            corpus.append(
                decision_input(
                    revision,
                    purpose="credit_evaluation",
                    subjects=[ADULT],
                    grant={k: v for k, v in grant.items() if k != key},
                )
            )
            for odd in (*ODD_VALUES, ["*"]):
                corpus.append(
                    decision_input(
                        revision, purpose="credit_evaluation", subjects=[ADULT], grant={**grant, key: odd}
                    )
                )
    # Malformed and incomplete requests.
    baseline = decision_input(revision)
    for key in sorted(baseline):
        corpus.append({k: v for k, v in baseline.items() if k != key})
        for odd in ODD_VALUES:
            corpus.append({**baseline, key: odd})
    corpus.extend(
        [
            {},
            decision_input(revision, now="2026-11-22"),
            decision_input(revision, now="1500-01-01T00:00:00Z"),
            decision_input(revision, now="2026-11-22T16:00:00+08:00"),
            decision_input(revision, items=[{"id": "court.dishonest_debtor", "fields": []}]),
            decision_input(revision, items=[{"id": "court.dishonest_debtor"}]),
            decision_input(revision, items=[{"fields": None}]),
            decision_input(revision, items=[{"id": 7, "fields": None}]),
            decision_input(revision, items=[{"id": "court.dishonest_debtor", "fields": ["name", 3]}]),
            decision_input(revision, items=[{"id": "court.dishonest_debtor", "fields": "name"}]),
            decision_input(revision, items=["court.dishonest_debtor"]),
            decision_input(revision, subjects=[{"kind": "alien"}]),
            decision_input(revision, subjects=[{}]),
            decision_input(revision, subjects=["c-legal"]),
            decision_input(revision, requester={"department": None}),
            decision_input(revision, requester="housing"),
            decision_input(revision, purpose={"code": "admin_licensing_review"}),
            decision_input(revision, grant="a grant"),
            decision_input(revision, grant={}),
            decision_input(
                revision,
                purpose="credit_evaluation",
                subjects=[ADULT],
                grant={**grant_for(ADULT, ["court.dishonest_debtor"], "credit_evaluation"), "revoked": None},
            ),
            decision_input(
                revision,
                purpose="credit_evaluation",
                subjects=[ADULT],
                items=[{"id": "court.dishonest_debtor", "fields": ["listed_on"]}],
                grant=grant_for(
                    ADULT,
                    ["court.dishonest_debtor"],
                    "credit_evaluation",
                    fields={"court.dishonest_debtor": ["listed_on"]},
                ),
            ),
            decision_input(
                revision,
                purpose="credit_evaluation",
                subjects=[ADULT],
                grant=grant_for(
                    ADULT,
                    ["court.dishonest_debtor"],
                    "credit_evaluation",
                    fields={"court.dishonest_debtor": ["listed_on"]},
                ),
            ),
        ]
    )
    return corpus


def registration_corpus() -> list[dict[str, Any]]:
    """Grant registration inputs over the shipped catalog: valid grants, then one and several changes."""
    catalog = _catalog()
    base: dict[str, Any] = {
        "recipient": "housing",
        "purposes": ["credit_evaluation"],
        "items": ["court.dishonest_debtor"],
        "fields": None,
        "valid_from": "2026-11-21T00:00:00Z",
        "valid_until": "2027-05-21T00:00:00Z",
        "consent": {
            "method": "written",
            "obtained_at": "2026-11-20T09:30:00Z",
            "reference": "consent-form-17",
            "separate": True,
            "condition_of_service": False,
            "service": None,
        },
        "subject_kind": "natural_person",
    }
    choices: dict[str, list[Any]] = {
        "recipient": [*sorted(catalog["departments"]), "all", "*", "全部", "bank", "", None, 3],
        "purposes": [[p] for p in sorted(catalog["purposes"])]
        + [
            [],
            ["all"],
            ["marketing"],
            ["credit_evaluation", "admin_licensing_review"],
            "credit_evaluation",
            None,
        ],
        "items": [[i] for i in sorted(catalog["items"])]
        + [[], ["*"], ["market.horoscope"], sorted(catalog["items"]), "court.dishonest_debtor", [7]],
        "fields": [
            None,
            {},
            {"court.dishonest_debtor": ["listed_on"]},
            {"court.dishonest_debtor": ["*"]},
            {"court.dishonest_debtor": ["shoe_size"]},
            {"market.horoscope": ["x"]},
            {"court.dishonest_debtor": "listed_on"},
            ["listed_on"],
        ],
        "valid_from": [
            "2026-11-19T00:00:00Z",
            "2026-12-01T00:00:00+08:00",
            "2026-11-20T09:30:00.25Z",
            "2026-11-21",
            "1500-01-01T00:00:00Z",
            None,
        ],
        "valid_until": [
            None,
            "9999-12-31T23:59:59Z",
            "2099-01-01T00:00:00Z",
            "2027-11-21T09:30:00Z",
            "2027-11-22T09:30:00Z",
            "2026-11-22T00:00:00Z",
            "2026-11-20T00:00:00Z",
            "soon",
        ],
        "subject_kind": ["natural_person", "individual_business", "legal_person", "alien", None],
    }
    consent_choices: dict[str, list[Any]] = {
        "method": ["electronic_signature", "online_explicit", "implied", "pre_ticked", None],
        "obtained_at": ["2026-11-23T00:00:00Z", "2025-01-01T00:00:00Z", "yesterday", None],
        "separate": [False, None, "yes"],
        "condition_of_service": [True, None],
        "service": ["mortgage", None],
    }
    grants: list[Any] = [copy.deepcopy(base)]
    for key, values in choices.items():  # one change at a time
        grants.extend({**base, key: value} for value in values)
        grants.append({k: v for k, v in base.items() if k != key})
    for key, values in consent_choices.items():
        grants.extend({**base, "consent": {**base["consent"], key: value}} for value in values)
    grants.extend([{**base, "consent": None}, {**base, "consent": "yes"}, {}, None, "grant", []])
    rng = random.Random(49)  # several changes at once, reproducibly
    for _ in range(300):
        grant = copy.deepcopy(base)
        for key in rng.sample(sorted(choices), rng.randint(2, 4)):
            grant[key] = rng.choice(choices[key])
        for key in rng.sample(sorted(consent_choices), rng.randint(0, 2)):
            grant["consent"][key] = rng.choice(consent_choices[key])
        grants.append(grant)
    inputs = [{"grant": grant, "now": NOW} for grant in grants]
    inputs += [{"grant": base}, {"grant": base, "now": "2026-11-22"}, {"now": NOW}, {}]
    return inputs


def _sorted_lists(value: Any) -> Any:
    """``value`` with every list sorted (by canonical JSON): sets compared as sets."""
    if isinstance(value, dict):
        return {k: _sorted_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_sorted_lists(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _compare(
    opa: DataApiClient, regorus: RegorusEngine, entrypoint: str, corpus: list[dict[str, Any]]
) -> tuple[list[str], list[str], list[Any]]:
    """(mismatches, order-only mismatches, OPA's answers) of ``entrypoint`` over ``corpus``.

    An evaluation error on either side is a mismatch too: the Go library runs with strict builtin
    errors, where ``opa run`` (by default) makes a failing builtin undefined, so a corpus with no
    error on the library is one where the server decides the same.
    """
    mismatches: list[str] = []
    order_only: list[str] = []
    answers = []
    for document in corpus:
        try:
            expected: Any = regorus.evaluate(entrypoint, document)
        except PolicyEngineError as exc:
            expected = f"error: {exc.__cause__}"
        status, body = opa.post(entrypoint, document)
        actual = body.get("result") if status == 200 else f"error {status}: {body.get('message')}"
        answers.append(actual)
        if actual == expected:
            continue
        line = f"input {json.dumps(document, ensure_ascii=False)}\n  regorus {expected}\n  opa     {actual}"
        (order_only if _sorted_lists(actual) == _sorted_lists(expected) else mismatches).append(line)
    return mismatches, order_only, answers


def test_decisions_are_the_same_on_real_opa(
    opa: DataApiClient, regorus: RegorusEngine, revision: str
) -> None:
    corpus = decision_corpus(revision)
    assert len(corpus) >= 1000
    mismatches, order_only, answers = _compare(opa, regorus, DECISION, corpus)
    assert not mismatches, f"{len(mismatches)} of {len(corpus)} decisions differ:\n" + "\n".join(
        mismatches[:5]
    )
    assert not order_only, f"{len(order_only)} decisions differ in list order only:\n" + "\n".join(
        order_only[:5]
    )
    # The corpus reaches both outcomes and most refusal codes.
    assert {a["allow"] for a in answers} == {True, False}
    codes = {r["code"] for a in answers for r in a["reasons"]}
    assert len(codes) >= 20, sorted(codes)


def _engine_with_index(index: dict[str, Any] | None) -> Any:
    """A raw regorus engine over policies/ with ``index`` (or none) at data.catalog_index."""
    sources = load_policy_sources(POLICIES_DIR)
    engine, _ = build_engine(dataclasses.replace(sources, index=index))
    return engine


def _decide(engine: Any, document: dict[str, Any]) -> Any:
    engine.set_input_json(json.dumps(document, ensure_ascii=False))
    return evaluate_rule(engine, "data." + DECISION)


def test_the_index_decides_as_the_full_evaluation_over_the_corpus(revision: str) -> None:
    """With the catalog index the decisions are the very documents the full evaluation gives."""
    index = load_policy_sources(POLICIES_DIR).index
    assert index is not None
    indexed, full = _engine_with_index(index), _engine_with_index(None)
    # The same index with a marker row filter on every plan: what it decides shows the marker.
    marked = copy.deepcopy(index)
    for plans in marked["plans"].values():
        for plan in plans.values():
            for key in ("entry", "minor_entry"):
                plan[key]["row_filters"] = [*plan[key]["row_filters"], {"kind": "marker"}]
    marker = _engine_with_index(marked)
    corpus = decision_corpus(revision)
    assert len(corpus) >= 1000
    differ, from_index = [], 0
    for document in corpus:
        expected = _decide(full, document)
        if _decide(indexed, document) != expected:
            differ.append(json.dumps(document, ensure_ascii=False))
        defined, value = _decide(marker, document)
        if (
            defined
            and value["allow"]
            and any({"kind": "marker"} in entry["row_filters"] for entry in value["items"].values())
        ):
            from_index += 1
    assert not differ, f"{len(differ)} of {len(corpus)} decisions differ:\n" + "\n".join(differ[:5])
    # The index decides a good share of the corpus (its allowed queries that need no grant).
    # Records handled with prudence (clause (16)) take the full evaluation, so not every allow is indexed.
    assert from_index >= 150, from_index


def test_registrations_are_the_same_on_real_opa(opa: DataApiClient, regorus: RegorusEngine) -> None:
    corpus = registration_corpus()
    assert len(corpus) >= 400
    mismatches, order_only, answers = _compare(opa, regorus, REGISTRATION, corpus)
    assert not mismatches, f"{len(mismatches)} of {len(corpus)} registrations differ:\n" + "\n".join(
        mismatches[:5]
    )
    assert not order_only, f"{len(order_only)} registrations differ in order only:\n" + "\n".join(
        order_only[:5]
    )
    assert {a["allow"] for a in answers} == {True, False}
    codes = {r["code"] for a in answers for r in a["reasons"]}
    assert len(codes) >= 20, sorted(codes)


# --- strictness ------------------------------------------------------------------------------------

# Builtins whose answer does not depend on (policy, data, input) alone (DESIGN §5: `now` is an input).
NON_DETERMINISTIC = [
    ("time", "now_ns"),
    ("http", "send"),
    ("rand", "intn"),
    ("uuid", "rfc4122"),
    ("opa", "runtime"),
    ("net", "lookup_ip_addr"),
]


def _vars(node: Any) -> list[str]:
    """Every variable name in an AST node (OPA's JSON form), with repeats."""
    if isinstance(node, dict):
        if node.get("type") == "var" and isinstance(node.get("value"), str):
            return [node["value"]]
        return [name for child in node.values() for name in _vars(child)]
    if isinstance(node, list):
        return [name for child in node for name in _vars(child)]
    return []


def _without_args(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule with the argument lists of its head and of every else head removed."""
    stripped = {**rule, "head": {k: v for k, v in rule["head"].items() if k != "args"}}
    if "else" in rule:
        stripped["else"] = _without_args(rule["else"])
    return stripped


def _assignments(node: Any) -> Iterator[str]:
    """The variables every ``:=`` in the node assigns (destructuring included)."""
    if isinstance(node, dict):
        terms = node.get("terms")
        if (
            isinstance(terms, list)
            and len(terms) == 3
            and terms[0].get("value") == [{"type": "var", "value": "assign"}]
        ):
            yield from _vars(terms[1])
        for child in node.values():
            yield from _assignments(child)
    elif isinstance(node, list):
        for child in node:
            yield from _assignments(child)


def _refs(node: Any) -> Iterator[tuple[str, ...]]:
    """Every reference, as its leading var then its constant string parts."""
    if isinstance(node, dict):
        if node.get("type") == "ref" and node["value"] and node["value"][0].get("type") == "var":
            parts = [node["value"][0]["value"]]
            for term in node["value"][1:]:
                if term.get("type") != "string":
                    break
                parts.append(term["value"])
            yield tuple(parts)
        for child in node.values():
            yield from _refs(child)
    elif isinstance(node, list):
        for child in node:
            yield from _refs(child)


def strictness_findings(module: dict[str, Any], *, is_test: bool) -> list[str]:
    """What ``opa check --strict`` would refuse in a parsed module, as far as a scan can tell.

    Unused imports, function arguments and ``:=`` locals; non-deterministic builtins outside tests.
    Conservative: a name used in another scope of the same rule counts as used.
    """
    findings: list[str] = []
    rules = module.get("rules") or []
    used = set(_vars(rules))
    for entry in module.get("imports") or []:
        path = [t["value"] for t in entry["path"]["value"]]
        name = entry.get("alias") or path[-1]
        if path[:2] != ["rego", "v1"] and name not in used:
            findings.append(f"unused import {'.'.join(path)}")
    for rule in rules:
        head = rule["head"]
        where = ".".join(str(t["value"]) for t in head["ref"])
        counts = _vars(_without_args(rule))
        for arg in _vars(head.get("args") or []):
            if not arg.startswith("$") and arg != "_" and arg not in counts:
                findings.append(f"{where}: unused argument {arg}")
        for local in set(_assignments(rule.get("body") or [])) | set(_assignments(head.get("value"))):
            if not local.startswith("$") and local != "_" and counts.count(local) < 2:
                findings.append(f"{where}: unused assignment {local}")
        if not is_test:
            for ref in set(_refs(rule)):
                findings.extend(
                    f"{where}: non-deterministic {'.'.join(bad)}"
                    for bad in NON_DETERMINISTIC
                    if ref[: len(bad)] == bad
                )
    return sorted(set(findings))


@pytest.fixture(scope="module")
def parse_module() -> Iterator[Any]:
    """OPA's own parser (``rego.parse_module``) on the Go library: rel, text -> AST as JSON."""
    if real_opa_kind() != LIBRARY:
        if real_opa_kind() is None:
            missing_real_opa("parsing the policies with OPA's parser")
        pytest.skip("with the opa binary, test_opa_check_strict runs `opa check --strict` instead")
    engine = go_opa_engine(POLICIES_DIR)

    def parse(rel: str, text: str) -> Any:
        [binding] = engine.eval_query("m := rego.parse_module(input.f, input.s)", {"f": rel, "s": text})
        return binding["m"]

    yield parse
    engine.close()


def test_policies_pass_the_strict_checks_a_scan_can_make(parse_module: Any) -> None:
    findings: list[str] = []
    for rel, text in load_policy_sources(POLICIES_DIR, include_tests=True).modules:
        module = parse_module(rel, text)
        findings.extend(
            f"{rel}: {f}" for f in strictness_findings(module, is_test=rel.endswith("_test.rego"))
        )
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("import data.gateway.catalog\n\nx := 1", "unused import data.gateway.catalog"),
        ("import data.gateway.catalog as c\n\nx := 1", "unused import data.gateway.catalog"),
        ("f(a, b) := a", "f: unused argument b"),
        ("f(a, b) := a if b > 1 else := 2", None),
        ("x if {\n\ty := 1\n\ttrue\n}", "x: unused assignment y"),
        ("x := [v | some v in [1]; w := 2]", "x: unused assignment w"),
        ("x := [a, b] if [a, b] := [1, 2]", None),
        ("x := [a] if [a, c] := [1, 2]", "x: unused assignment c"),
        ("x := time.now_ns()", "x: non-deterministic time.now_ns"),
        ("x := http.send({})", "x: non-deterministic http.send"),
    ],
)
def test_the_strict_scan_finds_what_it_looks_for(parse_module: Any, source: str, finding: str | None) -> None:
    found = strictness_findings(parse_module("probe.rego", f"package probe\n\n{source}\n"), is_test=False)
    assert found == ([] if finding is None else [finding])


def test_opa_check_strict() -> None:
    binary = opa_binary()
    if binary is None:
        pytest.skip("`opa check --strict` needs the opa binary (the Go library takes no compiler options)")
    result = subprocess.run(
        [binary, "check", "--strict", str(POLICIES_DIR)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def listing_corpus() -> list[dict[str, Any]]:
    """Listing steps on the shipped catalog: every step from every state, at times around the limits."""
    notified = "2026-11-01T00:00:00Z"
    entries: list[Any] = [
        None,
        {"status": "proposed", "notified_at": None, "objection_at": None, "objection_verified": False},
        {"status": "notified", "notified_at": notified, "objection_at": None, "objection_verified": False},
        {
            "status": "notified",
            "notified_at": notified,
            "objection_at": "2026-11-03T00:00:00Z",
            "objection_verified": False,
        },
        {
            "status": "notified",
            "notified_at": notified,
            "objection_at": "2026-11-03T00:00:00Z",
            "objection_verified": True,
        },
        {"status": "listed", "notified_at": notified, "objection_at": None, "objection_verified": False},
        {
            "status": "rejected",
            "notified_at": notified,
            "objection_at": "2026-11-03T00:00:00Z",
            "objection_verified": True,
        },
        {},
        "odd",
    ]
    times = [
        "2026-11-02T00:00:00Z",
        "2026-11-06T00:00:00Z",
        "2026-11-06T00:00:01Z",
        "2026-11-20T00:00:00Z",
        "x",
    ]
    corpus: list[dict[str, Any]] = []
    for step, entry, now in itertools.product([*STEPS, "leap"], entries, times):
        for department, basis, measures in (
            ("market_regulation", "penalty_decision", ["restrict_market_access"]),
            ("market_regulation", "inspection_notice", ["restrict_high_consumption"]),
            ("housing", None, []),
        ):
            corpus.append(
                {
                    "step": step,
                    "list": "market_serious_illegal",
                    "requester": {"department": department},
                    "now": now,
                    "entry": entry,
                    "basis_document": {"type": basis},
                    "measures": measures,
                }
            )
    corpus.append({"step": "propose", "list": "horoscope", "requester": {}, "now": notified, "entry": None})
    corpus.append({})
    return corpus


def test_listing_verdicts_are_the_same_on_real_opa(opa: DataApiClient, regorus: RegorusEngine) -> None:
    corpus = listing_corpus()
    mismatches, order_only, answers = _compare(opa, regorus, "gateway.listing.verdict", corpus)
    assert not mismatches, "\n".join(mismatches[:5])
    assert not order_only, "\n".join(order_only[:5])
    assert {a["allow"] for a in answers} == {True, False}
    assert len({r["code"] for a in answers for r in a["reasons"]}) >= 9


def test_disclosure_decisions_are_the_same_on_real_opa(
    opa: DataApiClient, regorus: RegorusEngine, revision: str
) -> None:
    items = [*sorted(_catalog()["items"]), "market.horoscope"]
    corpus = [
        {"item": item, "subject": {"kind": kind}, "now": NOW, "catalog_revision": rev}
        for item in items
        for kind in ("legal_person", "natural_person", "individual_business", None)
        for rev in (revision, "national@1999-01-01")
    ]
    corpus += [{}, {"item": 7}, {"item": "market.admin_penalty", "subject": "legal_person"}]
    mismatches, order_only, answers = _compare(opa, regorus, "gateway.disclosure.decision", corpus)
    assert not mismatches, "\n".join(mismatches[:5])
    assert not order_only, "\n".join(order_only[:5])
    assert {a["allow"] for a in answers} == {True, False}
