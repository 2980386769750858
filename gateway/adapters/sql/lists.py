"""The list-entry store on SQLAlchemy, in the gateway database beside the ledger and the grants.

Nothing is cached: the query path reads a subject's current lists for every query, so a decision or
a removal takes effect on the very next one. A step is written with a conditional UPDATE on the
status it starts from, so of two concurrent steps on one entry exactly one wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine, Row

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import list_entries
from gateway.domain.lists import BasisDocument, ListEntry, ListingDecision, ListingStatus, RemovalCause
from gateway.errors import Conflict, ListStoreError

_t = list_entries


def _entry(row: Row[Any]) -> ListEntry:
    m = row._mapping
    raw = m["decision"]
    decision = None
    if raw is not None:
        decision = ListingDecision(
            reason=raw["reason"],
            basis=raw["basis"],
            measures=tuple(raw["measures"]),
            removal_conditions=raw["removal_conditions"],
            remedies=raw["remedies"],
        )
    return ListEntry(
        id=m["id"],
        list_id=m["list_id"],
        subject_commitment=m["subject_commitment"],
        id_type=m["id_type"],
        subject_kind=m["subject_kind"],
        department=m["department"],
        basis=BasisDocument(m["basis_type"], m["basis_number"], m["basis_issuer"], m["basis_issued_on"]),
        status=ListingStatus(m["status"]),
        proposed_at=m["proposed_at"],
        notified_at=m["notified_at"],
        notice_channel=m["notice_channel"],
        objection_at=m["objection_at"],
        verified_at=m["verified_at"],
        objection_upheld=m["objection_upheld"],
        verification_result=m["verification_result"],
        decided_at=m["decided_at"],
        decision=decision,
        removed_at=m["removed_at"],
        removal_cause=None if m["removal_cause"] is None else RemovalCause(m["removal_cause"]),
    )


def _row(entry: ListEntry) -> dict[str, Any]:
    d = entry.decision
    return {
        "id": entry.id,
        "list_id": entry.list_id,
        "subject_commitment": entry.subject_commitment,
        "id_type": entry.id_type,
        "subject_kind": entry.subject_kind,
        "department": entry.department,
        "basis_type": entry.basis.type,
        "basis_number": entry.basis.number,
        "basis_issuer": entry.basis.issuer,
        "basis_issued_on": entry.basis.issued_on,
        "status": str(entry.status),
        "proposed_at": entry.proposed_at,
        "notified_at": entry.notified_at,
        "notice_channel": entry.notice_channel,
        "objection_at": entry.objection_at,
        "verified_at": entry.verified_at,
        "objection_upheld": entry.objection_upheld,
        "verification_result": entry.verification_result,
        "decided_at": entry.decided_at,
        "decision": None
        if d is None
        else {
            "reason": d.reason,
            "basis": d.basis,
            "measures": list(d.measures),
            "removal_conditions": d.removal_conditions,
            "remedies": d.remedies,
        },
        "removed_at": entry.removed_at,
        "removal_cause": None if entry.removal_cause is None else str(entry.removal_cause),
    }


class SqlListStore:
    """ListStore and ListMemberships on the gateway database; the schema comes from the migrations."""

    def __init__(self, url: str, *, schema: str | None = None, engine: Engine | None = None) -> None:
        self.engine: Engine = migrate.migrated_engine(url, schema=schema, engine=engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @staticmethod
    @contextmanager
    def _guard(what: str) -> Iterator[None]:
        with map_sql_errors(ListStoreError, f"the list store could not {what}"):
            yield

    def insert(self, entry: ListEntry) -> None:
        """Store a new proposal."""
        with self._guard("store the entry"), write_connection(self.engine) as conn, conn.begin():
            conn.execute(insert(_t).values(**_row(entry)))

    def replace(self, entry: ListEntry, expected: ListingStatus) -> None:
        """Write ``entry`` over the stored one if that one is still ``expected``; Conflict otherwise."""
        values = {k: v for k, v in _row(entry).items() if k != "id"}
        with self._guard("update the entry"), write_connection(self.engine) as conn, conn.begin():
            changed = conn.execute(
                update(_t).where(_t.c.id == entry.id, _t.c.status == str(expected)).values(**values)
            ).rowcount
        if changed != 1:
            raise Conflict("the entry changed while this step was being taken; read it again")

    def get(self, entry_id: str) -> ListEntry | None:
        """The entry with this id, or None."""
        with self._guard("read the entry"), self.engine.connect() as conn:
            row = conn.execute(select(_t).where(_t.c.id == entry_id)).first()
        return None if row is None else _entry(row)

    def current_lists(self, commitments: Sequence[str]) -> list[frozenset[str]]:
        """For each commitment, the lists its subject is on now (decided and not removed)."""
        if not commitments:
            return []
        with self._guard("read the lists"), self.engine.connect() as conn:
            rows = conn.execute(
                select(_t.c.subject_commitment, _t.c.list_id).where(
                    _t.c.subject_commitment.in_(sorted(set(commitments))),
                    _t.c.status == str(ListingStatus.LISTED),
                )
            ).all()
        found: dict[str, set[str]] = {}
        for commitment, list_id in rows:
            found.setdefault(commitment, set()).add(list_id)
        return [frozenset(found.get(c, ())) for c in commitments]

    def listed_for_subject(self, commitment: str) -> list[ListEntry]:
        """Every entry the subject with this commitment is currently listed under."""
        with self._guard("read the entries"), self.engine.connect() as conn:
            rows = conn.execute(
                select(_t)
                .where(_t.c.subject_commitment == commitment, _t.c.status == str(ListingStatus.LISTED))
                .order_by(_t.c.id)
            ).all()
        return [_entry(r) for r in rows]

    def listed(self, list_id: str) -> list[ListEntry]:
        """Every entry currently on ``list_id``, oldest decision first (for public disclosure)."""
        with self._guard("read the list"), self.engine.connect() as conn:
            rows = conn.execute(
                select(_t)
                .where(_t.c.list_id == list_id, _t.c.status == str(ListingStatus.LISTED))
                .order_by(_t.c.decided_at, _t.c.id)
            ).all()
        return [_entry(r) for r in rows]
