"""Golden bytes of every record kind the gateway writes.

Existing logs must keep verifying and stay searchable, so a refactoring of how records are built must
not move a byte: each case below is built the way the service that writes it builds it, and its
canonical bytes are compared with bytes captured from the code that wrote the logs in use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, RevokeReason
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.domain.ledger.commitments import SubjectRef, subject_commitment
from gateway.domain.ledger.envelope import canonical_record, envelope_bytes
from gateway.domain.ledger.records import (
    RECORD_TYPES,
    ConsoleRecord,
    GrantRecord,
    ItemRelease,
    LedgerRecord,
    ListingRecord,
    Outcome,
    QueryRecord,
    RecordedReason,
    ReviewRecord,
    RevocationRecord,
    SubjectReportRecord,
)
from tests.support.ledger import resident_id

SECRET = bytes(range(32))
COMMITMENT = "9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38bf"
POLICY = "sha256:" + "ab" * 32
GRANT_ID = "0123456789abcdef0123456789abcdef"


def _ref() -> SubjectRef:
    commitment = subject_commitment(SECRET, "resident_id", resident_id(1))
    return SubjectRef("resident_id", "natural_person", commitment)


def _business() -> SubjectRef:
    commitment = subject_commitment(SECRET, "uscc", "92110000MA01234567")
    return SubjectRef("uscc", "individual_business", commitment)


def _query(
    decision: Outcome,
    reasons: tuple[RecordedReason, ...],
    *,
    releases: tuple[ItemRelease, ...] | None = None,
    digest: str | None = None,
    measure: str | None = None,
    grant_id: str | None = None,
    subjects: tuple[SubjectRef, ...] | None = None,
) -> QueryRecord:
    """As services/query.py builds it: a refusal or failure lists every requested item with no rows."""
    subjects = subjects or (_ref(),)
    items = releases or (ItemRelease("tax_violation", (), 0), ItemRelease("court_judgment_dishonest", (), 0))
    return QueryRecord(
        request_id="8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11",
        client_id="market-portal",
        department="market_regulation",
        purpose="administrative_licensing",
        legal_basis="《社会信用体系建设法》第十二条",
        measure=measure,
        grant_id=grant_id,
        subjects=subjects,
        subject_count=len(subjects),
        items=items,
        decision=decision,
        reasons=reasons,
        policy_revision=POLICY,
        catalog_revision="national@2026-11-01",
        response_digest=digest,
    )


def _grant(*, limited: bool) -> Grant:
    """A grant as services/grants.py hands it to its records (limited: with fields and an end)."""
    terms = GrantTerms(
        recipient="market_regulation",
        purposes=("administrative_licensing", "public_procurement"),
        items=("tax_violation", "court_judgment_dishonest"),
        fields={"tax_violation": ("name", "case_no")} if limited else None,
        valid_from=datetime(2026, 11, 22, 8, tzinfo=UTC),
        valid_until=datetime(2027, 11, 22, 8, tzinfo=UTC) if limited else None,
        consent=ConsentEvidence(
            method="written",
            obtained_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            reference="CONSENT-2026-0042",
            separate=True,
            condition_of_service=False,
        ),
    )
    return Grant(
        id=GRANT_ID,
        subject_commitment=_ref().commitment,
        id_type=IdType.RESIDENT_ID,
        subject_kind=SubjectKind.NATURAL_PERSON,
        terms=terms,
        registered_by="court",
        client_id="court-portal",
        created_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
    )


CASES: dict[str, Callable[[], LedgerRecord]] = {
    "query_allow": lambda: _query(
        "allow",
        (RecordedReason("allowed", "(3)"),),
        releases=(
            ItemRelease("tax_violation", ("name", "case_no"), 2),
            ItemRelease("court_judgment_dishonest", ("name",), 1),
        ),
        digest="sha256:" + "cd" * 32,
        measure="licence_review",
        grant_id=GRANT_ID,
    ),
    "query_deny": lambda: _query(
        "deny",
        (
            RecordedReason("purpose_not_allowed", "(3)", "tax_violation", "name"),
            RecordedReason("purpose_not_allowed", "(3)", "court_judgment_dishonest"),
            RecordedReason("minor_subject", "(16)"),
        ),
        subjects=(_ref(), _business()),
    ),
    "query_grant_not_found": lambda: _query(
        "deny", (RecordedReason("grant_not_found", "(14)", field="grant_id"),), grant_id="f" * 32
    ),
    "query_error": lambda: _query("error", (RecordedReason("source_unavailable", "(13)"),)),
    "grant_register": lambda: GrantRecord(_grant(limited=True), "court-portal", "court", (), POLICY),
    "grant_refused": lambda: GrantRecord(
        _grant(limited=False),
        "court-portal",
        "court",
        (
            RecordedReason("grant_without_end", "(14)", field="valid_until"),
            RecordedReason("blanket_purpose", "(14)"),
        ),
        POLICY,
    ),
    "grant_revoke": lambda: RevocationRecord(
        _grant(limited=False), "court-portal", "court", RevokeReason.SUBJECT_WITHDRAWAL, POLICY
    ),
    "review": lambda: ReviewRecord(
        target_index=41,
        target_leaf_hash="ef" * 32,
        status="flagged",
        comment="目的可疑 purpose looks stretched",
        client_id="auditor-1",
        department="audit_office",
    ),
    "subject_report": lambda: SubjectReportRecord(
        subject=_ref(), client_id="auditor-1", department="audit_office", entries_found=3
    ),
    # As services/console_auth.py writes a failed sign-in of a known account and an export.
    "console_login_failed": lambda: ConsoleRecord(
        "login_failed", "console:li.auditor", "audit_office", {"reason": "bad_code", "locked": False}
    ),
    "console_export": lambda: ConsoleRecord(
        "export",
        "console:li.auditor",
        "audit_office",
        {"format": "csv", "filters": {"decision": "deny"}, "checkpoint_size": 12},
    ),
    # As services/lists.py writes a decision taken and one refused before the notice period.
    "listing_decide": lambda: ListingRecord(
        step="decide",
        entry_id="0123456789abcdef0123456789abcdef",
        list_id="market_serious_illegal",
        subject=_ref(),
        client_id="market-app",
        department="market_regulation",
        decision="allow",
        reasons=(),
        policy_revision=POLICY,
        details={
            "reason": "拒不履行行政处罚决定",
            "basis": "《市场监督管理严重违法失信名单管理办法》第九条",
            "measures": ["restrict_market_access"],
            "removal_conditions": "满三年且未再违法",
            "remedies": "行政复议、行政诉讼",
        },
    ),
    "listing_refused": lambda: ListingRecord(
        step="decide",
        entry_id="0123456789abcdef0123456789abcdef",
        list_id="market_serious_illegal",
        subject=_ref(),
        client_id="market-app",
        department="market_regulation",
        decision="deny",
        reasons=(RecordedReason("listing_before_notice_period", "(8)", field="step"),),
        policy_revision=POLICY,
        details={"measures": []},
    ),
}


def _canonical(record: LedgerRecord) -> bytes:
    return canonical_record(record.as_dict())


LEAF_HASH = "86d4dc6269d2ff243831513366229dc7784f3e23cf40aef0be0456462264995a"
GOLDEN = {
    "query_allow": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"allow","de'
        'partment":"market_regulation","grant_id":"0123456789abcdef0123456789abcdef","items":[{"field'
        's":["case_no","name"],"item":"tax_violation","rows":2},{"fields":["name"],"item":"court_judg'
        'ment_dishonest","rows":1}],"kind":"query","legal_basis":"《社会信用体系建设法》第十二条","measure":"licence'
        '_review","policy_revision":"sha256:ababababababababababababababababababababababababababababa'
        'bababab","purpose":"administrative_licensing","reason_codes":["allowed"],"reasons":[{"clause'
        '":"(3)","code":"allowed"}],"request_id":"8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11","response_dig'
        'est":"sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","rows_total":'
        '3,"subject_count":1,"subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae'
        '79b306b2d9cb7ca38bf","id_type":"resident_id","subject_kind":"natural_person"}]}'
    ),
    "query_deny": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"deny","dep'
        'artment":"market_regulation","grant_id":null,"items":[{"fields":[],"item":"tax_violation","r'
        'ows":0},{"fields":[],"item":"court_judgment_dishonest","rows":0}],"kind":"query","legal_basi'
        's":"《社会信用体系建设法》第十二条","measure":null,"policy_revision":"sha256:ababababababababababababababab'
        'ababababababababababababababababab","purpose":"administrative_licensing","reason_codes":["pu'
        'rpose_not_allowed","minor_subject"],"reasons":[{"clause":"(3)","code":"purpose_not_allowed",'
        '"field":"name","item":"tax_violation"},{"clause":"(3)","code":"purpose_not_allowed","item":"'
        'court_judgment_dishonest"},{"clause":"(16)","code":"minor_subject"}],"request_id":"8c0f7a52-'
        '6f1e-4c1b-9d51-3f2b1a0e9c11","response_digest":null,"rows_total":0,"subject_count":2,"subjec'
        'ts":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38bf","id_ty'
        'pe":"resident_id","subject_kind":"natural_person"},{"commitment":"f59c71af6bc3683733eb9f6fab'
        '2fb7fa7bfa3bd74fd621107c8afd6d214e3b57","id_type":"uscc","subject_kind":"individual_business'
        '"}]}'
    ),
    "query_grant_not_found": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"deny","dep'
        'artment":"market_regulation","grant_id":"ffffffffffffffffffffffffffffffff","items":[{"fields'
        '":[],"item":"tax_violation","rows":0},{"fields":[],"item":"court_judgment_dishonest","rows":'
        '0}],"kind":"query","legal_basis":"《社会信用体系建设法》第十二条","measure":null,"policy_revision":"sha256:'
        'abababababababababababababababababababababababababababababababab","purpose":"administrative_'
        'licensing","reason_codes":["grant_not_found"],"reasons":[{"clause":"(14)","code":"grant_not_'
        'found","field":"grant_id"}],"request_id":"8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11","response_di'
        'gest":null,"rows_total":0,"subject_count":1,"subjects":[{"commitment":"9480648aa5a293e72a792'
        '6da0d23dc6f318db8b9959ae79b306b2d9cb7ca38bf","id_type":"resident_id","subject_kind":"natural'
        '_person"}]}'
    ),
    "query_error": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"error","de'
        'partment":"market_regulation","grant_id":null,"items":[{"fields":[],"item":"tax_violation","'
        'rows":0},{"fields":[],"item":"court_judgment_dishonest","rows":0}],"kind":"query","legal_bas'
        'is":"《社会信用体系建设法》第十二条","measure":null,"policy_revision":"sha256:ababababababababababababababa'
        'bababababababababababababababababab","purpose":"administrative_licensing","reason_codes":["s'
        'ource_unavailable"],"reasons":[{"clause":"(13)","code":"source_unavailable"}],"request_id":"'
        '8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11","response_digest":null,"rows_total":0,"subject_count":'
        '1,"subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38b'
        'f","id_type":"resident_id","subject_kind":"natural_person"}]}'
    ),
    "grant_register": (
        '{"action":"register","client_id":"court-portal","consent":{"condition_of_service":false,"met'
        'hod":"written","obtained_at":"2026-11-20T09:30:00Z","reference":"CONSENT-2026-0042","separat'
        'e":true,"service":null},"decision":"allow","department":"court","fields":{"tax_violation":["'
        'name","case_no"]},"grant_id":"0123456789abcdef0123456789abcdef","items":[{"fields":[],"item"'
        ':"court_judgment_dishonest","rows":0},{"fields":[],"item":"tax_violation","rows":0}],"kind":'
        '"grant","policy_revision":"sha256:ababababababababababababababababababababababababababababab'
        'ababab","purpose":"administrative_licensing,public_procurement","purposes":["administrative_'
        'licensing","public_procurement"],"reason_codes":[],"reasons":[],"recipient":"market_regulati'
        'on","subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca3'
        '8bf","id_type":"resident_id","subject_kind":"natural_person"}],"valid_from":"2026-11-22T08:0'
        '0:00Z","valid_until":"2027-11-22T08:00:00Z"}'
    ),
    "grant_refused": (
        '{"action":"register","client_id":"court-portal","consent":{"condition_of_service":false,"met'
        'hod":"written","obtained_at":"2026-11-20T09:30:00Z","reference":"CONSENT-2026-0042","separat'
        'e":true,"service":null},"decision":"deny","department":"court","fields":null,"grant_id":"012'
        '3456789abcdef0123456789abcdef","items":[{"fields":[],"item":"court_judgment_dishonest","rows'
        '":0},{"fields":[],"item":"tax_violation","rows":0}],"kind":"grant","policy_revision":"sha256'
        ':abababababababababababababababababababababababababababababababab","purpose":"administrative'
        '_licensing,public_procurement","purposes":["administrative_licensing","public_procurement"],'
        '"reason_codes":["grant_without_end","blanket_purpose"],"reasons":[{"clause":"(14)","code":"g'
        'rant_without_end","field":"valid_until"},{"clause":"(14)","code":"blanket_purpose"}],"recipi'
        'ent":"market_regulation","subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9'
        '959ae79b306b2d9cb7ca38bf","id_type":"resident_id","subject_kind":"natural_person"}],"valid_f'
        'rom":"2026-11-22T08:00:00Z","valid_until":null}'
    ),
    "grant_revoke": (
        '{"action":"revoke","client_id":"court-portal","consent":{"condition_of_service":false,"metho'
        'd":"written","obtained_at":"2026-11-20T09:30:00Z","reference":"CONSENT-2026-0042","separate"'
        ':true,"service":null},"decision":"allow","department":"court","fields":null,"grant_id":"0123'
        '456789abcdef0123456789abcdef","items":[{"fields":[],"item":"court_judgment_dishonest","rows"'
        ':0},{"fields":[],"item":"tax_violation","rows":0}],"kind":"grant","policy_revision":"sha256:'
        'abababababababababababababababababababababababababababababababab","purpose":"administrative_'
        'licensing,public_procurement","purposes":["administrative_licensing","public_procurement"],"'
        'reason_codes":[],"reasons":[],"recipient":"market_regulation","revoke_reason":"subject_withd'
        'rawal","subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7'
        'ca38bf","id_type":"resident_id","subject_kind":"natural_person"}],"valid_from":"2026-11-22T0'
        '8:00:00Z","valid_until":null}'
    ),
    "review": (
        '{"client_id":"auditor-1","comment":"目的可疑 purpose looks stretched","department":"audit_office'
        '","kind":"review","status":"flagged","target_index":41,"target_leaf_hash":"efefefefefefefefe'
        'fefefefefefefefefefefefefefefefefefefefefefefef"}'
    ),
    "subject_report": (
        '{"client_id":"auditor-1","department":"audit_office","entries_found":3,"kind":"subject_repor'
        't","subjects":[{"commitment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38'
        'bf","id_type":"resident_id","subject_kind":"natural_person"}]}'
    ),
    "console_login_failed": (
        '{"client_id":"console:li.auditor","department":"audit_office","event":"login_failed","kind":"co'
        'nsole","locked":false,"reason":"bad_code"}'
    ),
    "console_export": (
        '{"checkpoint_size":12,"client_id":"console:li.auditor","department":"audit_office","event":"exp'
        'ort","filters":{"decision":"deny"},"format":"csv","kind":"console"}'
    ),
    "listing_decide": (
        '{"client_id":"market-app","decision":"al'
        'low","department":"market_regulation","d'
        'etails":{"basis":"《市场监督管理严重违法失信名单管理办法》第九'
        '条","measures":["restrict_market_access"]'
        ',"reason":"拒不履行行政处罚决定","remedies":"行政复议、'
        '行政诉讼","removal_conditions":"满三年且未再违法"},"'
        'entry_id":"0123456789abcdef0123456789abc'
        'def","kind":"listing","list":"market_ser'
        'ious_illegal","policy_revision":"sha256:'
        "abababababababababababababababababababab"
        'abababababababababababab","reason_codes"'
        ':[],"reasons":[],"step":"decide","subjec'
        'ts":[{"commitment":"9480648aa5a293e72a79'
        "26da0d23dc6f318db8b9959ae79b306b2d9cb7ca"
        '38bf","id_type":"resident_id","subject_k'
        'ind":"natural_person"}]}'
    ),
    "listing_refused": (
        '{"client_id":"market-app","decision":"de'
        'ny","department":"market_regulation","de'
        'tails":{"measures":[]},"entry_id":"01234'
        '56789abcdef0123456789abcdef","kind":"lis'
        'ting","list":"market_serious_illegal","p'
        'olicy_revision":"sha256:abababababababab'
        "abababababababababababababababababababab"
        'abababab","reason_codes":["listing_befor'
        'e_notice_period"],"reasons":[{"clause":"'
        '(8)","code":"listing_before_notice_perio'
        'd","field":"step"}],"step":"decide","sub'
        'jects":[{"commitment":"9480648aa5a293e72'
        "a7926da0d23dc6f318db8b9959ae79b306b2d9cb"
        '7ca38bf","id_type":"resident_id","subjec'
        't_kind":"natural_person"}]}'
    ),
}


def test_every_kind_has_a_golden_case() -> None:
    assert set(CASES) == set(GOLDEN)
    assert {type(build()) for build in CASES.values()} == set(RECORD_TYPES)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_canonical_bytes_are_unchanged(name: str) -> None:
    assert _canonical(CASES[name]()) == GOLDEN[name].encode()


def test_the_subject_commitment_is_unchanged() -> None:
    assert subject_commitment(SECRET, "resident_id", resident_id(1)) == COMMITMENT


def test_the_leaf_of_a_record_is_unchanged() -> None:
    leaf = envelope_bytes(7, "2026-11-22T08:00:00.000000Z", _canonical(CASES["review"]()))
    assert leaf.startswith(b'{"index":7,"logged_at":"2026-11-22T08:00:00.000000Z","record":{"client_id"')
    assert hashlib.sha256(b"\x00" + leaf).hexdigest() == LEAF_HASH
