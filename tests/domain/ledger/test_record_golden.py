"""Golden bytes of every record kind the gateway writes.

Existing logs must keep verifying and stay searchable, so a refactoring of how records are built must
not move a byte: each case below is built the way the service that writes it builds it, and its
canonical bytes are compared with bytes captured from the code that wrote the logs in use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.domain.grants import ConsentEvidence, Grant, GrantTerms, RevokeReason
from gateway.domain.identifiers import IdType, SubjectKind
from gateway.domain.ledger.commitments import SubjectRef, subject_commitment
from gateway.domain.ledger.envelope import canonical_record, envelope_bytes
from gateway.domain.ledger.records import (
    RECORD_TYPES,
    ConsoleRecord,
    GrantReconciliationRecord,
    GrantRecord,
    InvalidRecord,
    ItemRelease,
    KeyHandoverRecord,
    LedgerRecord,
    ListingRecord,
    NotificationRecord,
    Outcome,
    PolicyChangeRecord,
    QueryRecord,
    RecordedReason,
    RepairRecord,
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
    input_digest: str | None = None,
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
        input_digest=input_digest,
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


RECORD = "1f" * 32
RECORD_2 = "2e" * 32


def _repair(
    action: str,
    decision: Outcome,
    reasons: tuple[RecordedReason, ...],
    *,
    effective_at: str | None = None,
    overdue: bool = False,
    mode: str = "mark",
) -> RepairRecord:
    return RepairRecord(
        action=action,  # type: ignore[arg-type]  # the cases pass apply / accept / refuse
        repair_id="e" * 32,
        item="market.admin_penalty",
        record_commitment=RECORD,
        subject=_business(),
        client_id="market-desk",
        department="market_regulation",
        mode=mode,
        decision=decision,
        reasons=reasons,
        evidence_kinds=("penalty_paid", "credit_commitment"),
        evidence_digest="sha256:" + "ab" * 32,
        due_at="2026-11-27T10:00:00Z",
        effective_at=effective_at,
        overdue=overdue,
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
    # As services/query.py writes an allowed query that released records of a repairable item.
    "query_allow_records": lambda: replace(
        _query(
            "allow",
            (RecordedReason("allowed", "(3)"),),
            releases=(ItemRelease("market.admin_penalty", ("uscc", "penalty"), 2),),
            digest="sha256:" + "cd" * 32,
        ),
        record_commitments=(RECORD_2, RECORD, RECORD),
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
    # Since inputs are kept for replay: the kept input's digest is part of the entry.
    "query_deny_kept_input": lambda: _query(
        "deny", (RecordedReason("department_not_allowed", "(3)"),), input_digest="sha256:" + "01" * 32
    ),
    "policy_activate": lambda: PolicyChangeRecord(
        action="activate",
        revision="sha256:" + "02" * 32,
        parent_revision=POLICY,
        draft_id="7",
        author="sec-alice",
        approver="console:bob.security",
        department="security_team",
        replay_digest="sha256:" + "03" * 32,
        replay_summary={"total": 10000, "unchanged": 9990, "changed": 10, "errors": 0, "dangerous": 3},
        actor="console:carol.security",
    ),
    "policy_rollback": lambda: PolicyChangeRecord(
        action="rollback",
        revision=POLICY,
        parent_revision="sha256:" + "02" * 32,
        draft_id="1",
        author="gateway",
        approver="sec-bob",
        department="security_team",
        replay_digest=None,
    ),
    # As services/repairs.py writes an application, its acceptance and an unrepairable refusal.
    "repair_apply": lambda: _repair("apply", "allow", ()),
    "repair_accept": lambda: _repair(
        "accept", "allow", (), effective_at="2026-11-25T10:00:00Z", overdue=True
    ),
    "repair_refuse": lambda: _repair(
        "refuse", "deny", (RecordedReason("evidence_insufficient", "(11)", "market.admin_penalty"),)
    ),
    "repair_not_repairable": lambda: _repair(
        "apply", "deny", (RecordedReason("item_not_repairable", "(11)", "tax.major_violation"),), mode=""
    ),
    # As services/notifications.py writes a notification issued, delivered and acknowledged.
    "notification_issued": lambda: NotificationRecord(
        "issued", "f" * 32, "e" * 32, "market.admin_penalty", RECORD, "housing", 17
    ),
    "notification_delivered": lambda: NotificationRecord(
        "delivered", "f" * 32, "e" * 32, "market.admin_penalty", RECORD, "housing", 17, attempts=3
    ),
    "notification_acknowledged": lambda: NotificationRecord(
        "acknowledged", "f" * 32, "e" * 32, "market.admin_penalty", RECORD, "housing", 17, client_id="housing"
    ),
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
    # As GrantService.reconcile registers what it finished at start-up.
    "grant_reconcile": lambda: GrantReconciliationRecord(
        registered=(GRANT_ID,),
        discarded=("fedcba9876543210fedcba9876543210",),
        revocations_found=(),
        revocations_registered=("00112233445566778899aabbccddeeff",),
    ),
    # As gateway/api/problems.py registers a validation refusal of an authenticated request.
    "invalid": lambda: InvalidRecord(
        request_id="8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11",
        endpoint="POST /v1/queries",
        client_id="market-portal",
        department="market_regulation",
        code="identifier_in_text",
        field="subjects.0.value",
    ),
    # As services/key_handover.py writes a recipient's field key wrapped to its X25519 key.
    "key_handover": lambda: KeyHandoverRecord(
        client_id="market-regulator",
        department="market_regulation",
        algorithm="aes-256-gcm",
        key_id="fk:" + "0123456789abcdef" * 2,
        wrapping="X25519-HKDF-SHA256-AES-256-GCM",
        recipient_key="sha256:" + "cd" * 32,
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
    "query_allow_records": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"allow","dep'
        'artment":"market_regulation","grant_id":null,"items":[{"fields":["penalty","uscc"],"item":"ma'
        'rket.admin_penalty","rows":2}],"kind":"query","legal_basis":"《社会信用体系建设法》第十二条","measure":null,'
        '"policy_revision":"sha256:abababababababababababababababababababababababababababababababab","'
        'purpose":"administrative_licensing","reason_codes":["allowed"],"reasons":[{"clause":"(3)","co'
        'de":"allowed"}],"record_commitments":["1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f'
        '1f1f1f1f1f","2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e"],"request_id":'
        '"8c0f7a52-6f1e-4c1b-9d51-3f2b1a0e9c11","response_digest":"sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcd'
        'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","rows_total":2,"subject_count":1,"subjects":[{"commitme'
        'nt":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38bf","id_type":"resident_id'
        '","subject_kind":"natural_person"}]}'
    ),
    "repair_apply": (
        '{"action":"apply","client_id":"market-desk","decision":"allow","department":"market_regulatio'
        'n","due_at":"2026-11-27T10:00:00Z","effective_at":null,"evidence_digest":"sha256:abababababab'
        'abababababababababababababababababababababababababab","evidence_kinds":["credit_commitment","'
        'penalty_paid"],"free_of_charge":true,"items":[{"fields":[],"item":"market.admin_penalty","row'
        's":0}],"kind":"repair","mode":"mark","overdue":false,"reason_codes":[],"reasons":[],"recipien'
        'ts":null,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1'
        'f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","subjects":[{"commitment":"f59c71af6bc36837'
        '33eb9f6fab2fb7fa7bfa3bd74fd621107c8afd6d214e3b57","id_type":"uscc","subject_kind":"individual'
        '_business"}]}'
    ),
    "repair_accept": (
        '{"action":"accept","client_id":"market-desk","decision":"allow","department":"market_regulati'
        'on","due_at":"2026-11-27T10:00:00Z","effective_at":"2026-11-25T10:00:00Z","evidence_digest":"'
        'sha256:abababababababababababababababababababababababababababababababab","evidence_kinds":["c'
        'redit_commitment","penalty_paid"],"free_of_charge":true,"items":[{"fields":[],"item":"market.'
        'admin_penalty","rows":0}],"kind":"repair","mode":"mark","overdue":true,"reason_codes":[],"rea'
        'sons":[],"recipients":null,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1'
        'f1f1f1f1f1f1f1f1f1f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","subjects":[{"commitment"'
        ':"f59c71af6bc3683733eb9f6fab2fb7fa7bfa3bd74fd621107c8afd6d214e3b57","id_type":"uscc","subject'
        '_kind":"individual_business"}]}'
    ),
    "repair_refuse": (
        '{"action":"refuse","client_id":"market-desk","decision":"deny","department":"market_regulatio'
        'n","due_at":"2026-11-27T10:00:00Z","effective_at":null,"evidence_digest":"sha256:abababababab'
        'abababababababababababababababababababababababababab","evidence_kinds":["credit_commitment","'
        'penalty_paid"],"free_of_charge":true,"items":[{"fields":[],"item":"market.admin_penalty","row'
        's":0}],"kind":"repair","mode":"mark","overdue":false,"reason_codes":["evidence_insufficient"]'
        ',"reasons":[{"clause":"(11)","code":"evidence_insufficient","item":"market.admin_penalty"}],"'
        'recipients":null,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1'
        'f1f1f1f1f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","subjects":[{"commitment":"f59c71af'
        '6bc3683733eb9f6fab2fb7fa7bfa3bd74fd621107c8afd6d214e3b57","id_type":"uscc","subject_kind":"in'
        'dividual_business"}]}'
    ),
    "repair_not_repairable": (
        '{"action":"apply","client_id":"market-desk","decision":"deny","department":"market_regulation'
        '","due_at":"2026-11-27T10:00:00Z","effective_at":null,"evidence_digest":"sha256:ababababababa'
        'bababababababababababababababababababababababababab","evidence_kinds":["credit_commitment","p'
        'enalty_paid"],"free_of_charge":true,"items":[{"fields":[],"item":"market.admin_penalty","rows'
        '":0}],"kind":"repair","mode":"","overdue":false,"reason_codes":["item_not_repairable"],"reaso'
        'ns":[{"clause":"(11)","code":"item_not_repairable","item":"tax.major_violation"}],"recipients'
        '":null,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f"'
        ',"repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","subjects":[{"commitment":"f59c71af6bc3683733'
        'eb9f6fab2fb7fa7bfa3bd74fd621107c8afd6d214e3b57","id_type":"uscc","subject_kind":"individual_b'
        'usiness"}]}'
    ),
    "notification_issued": (
        '{"action":"issued","attempts":null,"client_id":null,"department":"housing","items":[{"fields"'
        ':[],"item":"market.admin_penalty","rows":0}],"kind":"notification","notification_id":"fffffff'
        'fffffffffffffffffffffffff","received_index":17,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1'
        'f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}'
    ),
    "notification_delivered": (
        '{"action":"delivered","attempts":3,"client_id":null,"department":"housing","items":[{"fields"'
        ':[],"item":"market.admin_penalty","rows":0}],"kind":"notification","notification_id":"fffffff'
        'fffffffffffffffffffffffff","received_index":17,"record_commitment":"1f1f1f1f1f1f1f1f1f1f1f1f1'
        'f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}'
    ),
    "notification_acknowledged": (
        '{"action":"acknowledged","attempts":null,"client_id":"housing","department":"housing","items"'
        ':[{"fields":[],"item":"market.admin_penalty","rows":0}],"kind":"notification","notification_i'
        'd":"ffffffffffffffffffffffffffffffff","received_index":17,"record_commitment":"1f1f1f1f1f1f1f'
        '1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f","repair_id":"eeeeeeeeeeeeeeeeeeeeeeeeeeee'
        'eeee"}'
    ),
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
    "query_deny_kept_input": (
        '{"catalog_revision":"national@2026-11-01","client_id":"market-portal","decision":"deny","depart'
        'ment":"market_regulation","grant_id":null,"input_digest":"sha256:010101010101010101010101010101'
        '0101010101010101010101010101010101","items":[{"fields":[],"item":"tax_violation","rows":0},{"fi'
        'elds":[],"item":"court_judgment_dishonest","rows":0}],"kind":"query","legal_basis":"《社会信用体系建设法》'
        '第十二条","measure":null,"policy_revision":"sha256:abababababababababababababababababababababababab'
        'abababababababab","purpose":"administrative_licensing","reason_codes":["department_not_allowed"'
        '],"reasons":[{"clause":"(3)","code":"department_not_allowed"}],"request_id":"8c0f7a52-6f1e-4c1b'
        '-9d51-3f2b1a0e9c11","response_digest":null,"rows_total":0,"subject_count":1,"subjects":[{"commi'
        'tment":"9480648aa5a293e72a7926da0d23dc6f318db8b9959ae79b306b2d9cb7ca38bf","id_type":"resident_i'
        'd","subject_kind":"natural_person"}]}'
    ),
    "policy_activate": (
        '{"action":"activate","approver":"console:bob.security","author":"sec-alice","client_id":"consol'
        'e:carol.security","department":"security_team","draft_id":"7","kind":"policy","parent_revision"'
        ':"sha256:abababababababababababababababababababababababababababababababab","policy_revision":"s'
        'ha256:0202020202020202020202020202020202020202020202020202020202020202","replay_digest":"sha256'
        ':0303030303030303030303030303030303030303030303030303030303030303","replay_summary":{"changed":'
        '10,"dangerous":3,"errors":0,"total":10000,"unchanged":9990},"revision":"sha256:0202020202020202'
        '020202020202020202020202020202020202020202020202"}'
    ),
    "policy_rollback": (
        '{"action":"rollback","approver":"sec-bob","author":"gateway","client_id":"sec-bob","department"'
        ':"security_team","draft_id":"1","kind":"policy","parent_revision":"sha256:020202020202020202020'
        '2020202020202020202020202020202020202020202","policy_revision":"sha256:abababababababababababab'
        'abababababababababababababababababababab","replay_digest":null,"replay_summary":{},"revision":"'
        'sha256:abababababababababababababababababababababababababababababababab"}'
    ),
    "console_export": (
        '{"checkpoint_size":12,"client_id":"console:li.auditor","department":"audit_office","event":"exp'
        'ort","filters":{"decision":"deny"},"format":"csv","kind":"console"}'
    ),
    "grant_reconcile": (
        '{"action":"reconcile","client_id":null,"decision":"allow","department":null,"discarded":["fe'
        'dcba9876543210fedcba9876543210"],"kind":"grant","reason_codes":[],"reasons":[],"registered":'
        '["0123456789abcdef0123456789abcdef"],"revocations_found":[],"revocations_registered":["00112'
        '233445566778899aabbccddeeff"]}'
    ),
    "invalid": (
        '{"client_id":"market-portal","decision":"invalid","department":"market_regulation","endpoint"'
        ':"POST /v1/queries","kind":"invalid","reason_codes":["identifier_in_text"],"reasons":[{"claus'
        'e":"(13)","code":"identifier_in_text","field":"subjects.0.value"}],"request_id":"8c0f7a52-6f1'
        'e-4c1b-9d51-3f2b1a0e9c11"}'
    ),
    # Written by hand from the record's documented form, before the code that renders it.
    "key_handover": (
        '{"algorithm":"aes-256-gcm","client_id":"market-regulator","department":"market_regulation",'
        '"key_id":"fk:0123456789abcdef0123456789abcdef","kind":"key_handover","recipient_key":"sha256:'
        'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","wrapping":"X25519-HKDF-SH'
        'A256-AES-256-GCM"}'
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
