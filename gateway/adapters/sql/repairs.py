"""The repair store on the gateway database: applications, notifications, the outbox, webhooks.

It lives beside the ledger and the grants, so every worker and every replica reads the same repairs:
the query path asks it, on every query, which records of the queried subjects are repaired (nothing
is cached). Decisions are conditional UPDATEs, so of two concurrent decisions on one application
exactly one wins. A repair's effect and the outbox tasks it needs (its ledger entry, the search for
its recipients) commit in one transaction; so do notifications and their delivery tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, Row

from gateway.adapters.sql import migrate
from gateway.adapters.sql.engine import write_connection
from gateway.adapters.sql.errors import map_sql_errors
from gateway.adapters.sql.schema import notification_webhooks, repair_notifications, repair_outbox, repairs
from gateway.domain.catalog import RepairMode
from gateway.domain.repairs import (
    Evidence,
    EvidenceKind,
    Notification,
    OutboxTask,
    Recipient,
    RefusalReason,
    Repair,
    RepairStatus,
    TaskKind,
    Webhook,
)
from gateway.errors import RepairAlreadyDecided, RepairNotFound, RepairStoreError

_r = repairs
_n = repair_notifications
_o = repair_outbox
_w = notification_webhooks


def new_id() -> str:
    """A random 32-hex id."""
    return uuid.uuid4().hex


def _repair(row: Row[Any]) -> Repair:
    m = row._mapping
    return Repair(
        id=m["id"],
        item=m["item"],
        record_key=m["record_key"],
        subject_commitment=m["subject_commitment"],
        id_type=m["id_type"],
        subject_kind=m["subject_kind"],
        department=m["department"],
        client_id=m["client_id"],
        evidence=tuple(
            Evidence(EvidenceKind(e["kind"]), e["reference"], date.fromisoformat(e["issued_on"]))
            for e in m["evidence"]
        ),
        status=RepairStatus(m["status"]),
        mode=RepairMode(m["mode"]),
        applied_at=m["applied_at"],
        due_at=m["due_at"],
        decided_at=m["decided_at"],
        effective_at=m["effective_at"],
        refusal_reasons=tuple(RefusalReason(r) for r in (m["refusal_reasons"] or ())),
        ledger_index=m["ledger_index"],
        decision_ledger_index=m["decision_ledger_index"],
    )


def _notification(row: Row[Any]) -> Notification:
    m = row._mapping
    return Notification(
        id=m["id"],
        repair_id=m["repair_id"],
        department=m["department"],
        received_index=m["received_index"],
        received_at=m["received_at"],
        created_at=m["created_at"],
        ledger_index=m["ledger_index"],
        delivered_at=m["delivered_at"],
        acked_at=m["acked_at"],
        acked_by=m["acked_by"],
        ack_ledger_index=m["ack_ledger_index"],
    )


def _task(row: Row[Any]) -> OutboxTask:
    m = row._mapping
    return OutboxTask(
        m["id"],
        TaskKind(m["kind"]),
        m["repair_id"],
        m["notification_id"],
        m["next_attempt_at"],
        m["attempts"],
    )


def _task_row(
    kind: TaskKind,
    repair_id: str,
    at: datetime,
    notification_id: str | None = None,
    lease_until: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "kind": str(kind),
        "repair_id": repair_id,
        "notification_id": notification_id,
        "created_at": at,
        "next_attempt_at": at,
        "lease_until": lease_until,
        "attempts": 1 if lease_until is not None else 0,
        "done_at": None,
        "last_error": None,
    }


class SqlRepairStore:
    """RepairStore on the gateway database; the schema comes from the migrations."""

    def __init__(self, url: str, *, schema: str | None = None, engine: Engine | None = None) -> None:
        self.engine: Engine = migrate.migrated_engine(url, schema=schema, engine=engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @staticmethod
    @contextmanager
    def _guard(what: str) -> Iterator[None]:
        with map_sql_errors(RepairStoreError, f"the repair store could not {what}"):
            yield

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        with self._guard(what), write_connection(self.engine) as conn, conn.begin():
            yield conn

    # --- applications ---

    def insert(self, repair: Repair) -> None:
        """Store a new application."""
        with self._write("store the application") as conn:
            conn.execute(
                insert(_r).values(
                    id=repair.id,
                    item=repair.item,
                    record_key=repair.record_key,
                    subject_commitment=repair.subject_commitment,
                    id_type=repair.id_type,
                    subject_kind=repair.subject_kind,
                    department=repair.department,
                    client_id=repair.client_id,
                    evidence=[e.as_dict() for e in repair.evidence],
                    status=str(repair.status),
                    mode=str(repair.mode),
                    applied_at=repair.applied_at,
                    due_at=repair.due_at,
                )
            )

    def discard(self, repair_id: str) -> None:
        """Delete an application whose registration failed (it never counted)."""
        with self._write("discard the application") as conn:
            conn.execute(_r.delete().where(_r.c.id == repair_id, _r.c.ledger_index.is_(None)))

    def mark_registered(self, repair_id: str, ledger_index: int) -> None:
        """Record the ledger index of the application's entry."""
        with self._write("record the registration") as conn:
            conn.execute(update(_r).where(_r.c.id == repair_id).values(ledger_index=ledger_index))

    def mark_decision_registered(self, repair_id: str, ledger_index: int) -> None:
        """Record the ledger index of the decision's entry."""
        with self._write("record the registration") as conn:
            conn.execute(update(_r).where(_r.c.id == repair_id).values(decision_ledger_index=ledger_index))

    def get(self, repair_id: str) -> Repair | None:
        """One application, read now."""
        with self._guard("read the application"), self.engine.connect() as conn:
            row = conn.execute(select(_r).where(_r.c.id == repair_id)).one_or_none()
            return _repair(row) if row is not None else None

    def find(
        self,
        *,
        department: str | None = None,
        status: str | None = None,
        overdue_at: datetime | None = None,
        limit: int = 100,
    ) -> list[Repair]:
        """Applications matching every filter given, newest first."""
        stmt = select(_r)
        if department is not None:
            stmt = stmt.where(_r.c.department == department)
        if status is not None:
            stmt = stmt.where(_r.c.status == status)
        if overdue_at is not None:
            stmt = stmt.where(_r.c.status == str(RepairStatus.APPLIED), _r.c.due_at < overdue_at)
        stmt = stmt.order_by(_r.c.applied_at.desc(), _r.c.id).limit(limit)
        with self._guard("list applications"), self.engine.connect() as conn:
            return [_repair(row) for row in conn.execute(stmt)]

    def open_for_record(self, item: str, record_key: str) -> Repair | None:
        """An application for the record still applied or already effective, if any."""
        stmt = select(_r).where(
            _r.c.item == item,
            _r.c.record_key == record_key,
            _r.c.status.in_([str(RepairStatus.APPLIED), str(RepairStatus.EFFECTIVE)]),
        )
        with self._guard("read applications"), self.engine.connect() as conn:
            row = conn.execute(stmt.limit(1)).first()
            return _repair(row) if row is not None else None

    def count_overdue(self, now: datetime) -> int:
        """Applications still undecided past their time limit."""
        stmt = (
            select(func.count())
            .select_from(_r)
            .where(_r.c.status == str(RepairStatus.APPLIED), _r.c.due_at < now)
        )
        with self._guard("count overdue applications"), self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def refuse(self, repair_id: str, decided_at: datetime, reasons: Sequence[RefusalReason]) -> Repair:
        """Refuse an undecided application; RepairAlreadyDecided when it was decided already."""
        with self._write("refuse the application") as conn:
            changed = conn.execute(
                update(_r)
                .where(_r.c.id == repair_id, _r.c.status == str(RepairStatus.APPLIED))
                .values(
                    status=str(RepairStatus.REFUSED),
                    decided_at=decided_at,
                    refusal_reasons=[str(r) for r in reasons],
                )
            ).rowcount
            return self._decided(conn, repair_id, changed)

    def accept(
        self, repair_id: str, decided_at: datetime, settle_at: datetime, lease_until: datetime
    ) -> tuple[Repair, list[OutboxTask]]:
        """Make an application effective now, with its outbox tasks, in one transaction.

        The tasks: register the decision, search the recipients now, and search again at
        ``settle_at`` (a query that read the record just before the effect registers a moment later).
        The first two come back leased to the caller until ``lease_until``, so it runs them at once
        without racing a delivery worker; if it dies, the lease runs out and a worker takes them.
        """
        with self._write("accept the application") as conn:
            changed = conn.execute(
                update(_r)
                .where(_r.c.id == repair_id, _r.c.status == str(RepairStatus.APPLIED))
                .values(status=str(RepairStatus.EFFECTIVE), decided_at=decided_at, effective_at=decided_at)
            ).rowcount
            repair = self._decided(conn, repair_id, changed)
            owned = [
                _task_row(TaskKind.REGISTER_REPAIR, repair_id, decided_at, lease_until=lease_until),
                _task_row(TaskKind.SCAN, repair_id, decided_at, lease_until=lease_until),
            ]
            conn.execute(insert(_o), [*owned, _task_row(TaskKind.SCAN, repair_id, settle_at)])
            return repair, [
                OutboxTask(t["id"], TaskKind(t["kind"]), repair_id, None, decided_at, 0) for t in owned
            ]

    @staticmethod
    def _decided(conn: Connection, repair_id: str, changed: int) -> Repair:
        row = conn.execute(select(_r).where(_r.c.id == repair_id)).one_or_none()
        if row is None:
            raise RepairNotFound("no repair application with this id", field="repair_id")
        if changed != 1:
            raise RepairAlreadyDecided("the application was already decided", field="repair_id")
        return _repair(row)

    def effective_for(self, items: Sequence[str], subject_commitments: Sequence[str]) -> list[Repair]:
        """Effective repairs of these items' records about these subjects (the query path's read)."""
        if not items or not subject_commitments:
            return []
        stmt = select(_r).where(
            _r.c.item.in_(list(items)),
            _r.c.subject_commitment.in_(list(subject_commitments)),
            _r.c.status == str(RepairStatus.EFFECTIVE),
        )
        with self._guard("read effective repairs"), self.engine.connect() as conn:
            return [_repair(row) for row in conn.execute(stmt)]

    def effective_of_department(self, department: str, since: datetime | None = None) -> list[Repair]:
        """Effective repairs of one source department, oldest first (the source-side export)."""
        stmt = select(_r).where(_r.c.department == department, _r.c.status == str(RepairStatus.EFFECTIVE))
        if since is not None:
            stmt = stmt.where(_r.c.effective_at >= since)
        with self._guard("export repairs"), self.engine.connect() as conn:
            return [_repair(row) for row in conn.execute(stmt.order_by(_r.c.effective_at, _r.c.id))]

    # --- notifications ---

    def add_notifications(self, repair_id: str, recipients: Sequence[Recipient], now: datetime) -> int:
        """Create the missing notifications (one per department) and their tasks; return how many."""
        with self._write("create notifications") as conn:
            known = set(conn.execute(select(_n.c.department).where(_n.c.repair_id == repair_id)).scalars())
            hooks = set(conn.execute(select(_w.c.department)).scalars())
            created = 0
            for recipient in recipients:
                if recipient.department in known:
                    continue
                known.add(recipient.department)
                notification_id = new_id()
                conn.execute(
                    insert(_n).values(
                        id=notification_id,
                        repair_id=repair_id,
                        department=recipient.department,
                        received_index=recipient.received_index,
                        received_at=recipient.received_at,
                        created_at=now,
                    )
                )
                tasks = [_task_row(TaskKind.REGISTER_NOTIFICATION, repair_id, now, notification_id)]
                if recipient.department in hooks:
                    tasks.append(_task_row(TaskKind.WEBHOOK, repair_id, now, notification_id))
                conn.execute(insert(_o), tasks)
                created += 1
            return created

    def notification(self, notification_id: str) -> Notification | None:
        """One notification."""
        with self._guard("read the notification"), self.engine.connect() as conn:
            row = conn.execute(select(_n).where(_n.c.id == notification_id)).one_or_none()
            return _notification(row) if row is not None else None

    def notifications(
        self,
        *,
        department: str | None = None,
        unacknowledged: bool = False,
        repair_id: str | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Notifications matching every filter, oldest first."""
        stmt = select(_n)
        if department is not None:
            stmt = stmt.where(_n.c.department == department)
        if repair_id is not None:
            stmt = stmt.where(_n.c.repair_id == repair_id)
        if unacknowledged:
            stmt = stmt.where(_n.c.acked_at.is_(None))
        with self._guard("list notifications"), self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(_n.c.created_at, _n.c.id).limit(limit))
            return [_notification(row) for row in rows]

    def acknowledge(
        self, notification_id: str, department: str, by: str, now: datetime
    ) -> Notification | None:
        """Mark acknowledged once; None when it was already acknowledged (or is not this department's)."""
        with self._write("acknowledge the notification") as conn:
            changed = conn.execute(
                update(_n)
                .where(_n.c.id == notification_id, _n.c.department == department, _n.c.acked_at.is_(None))
                .values(acked_at=now, acked_by=by)
            ).rowcount
            if changed != 1:
                return None
            return _notification(conn.execute(select(_n).where(_n.c.id == notification_id)).one())

    def set_notification(self, notification_id: str, **values: Any) -> None:
        """Record a ledger index or a delivery time on a notification."""
        allowed = {"ledger_index", "delivered_at", "ack_ledger_index"}
        if not set(values) <= allowed:
            raise ValueError("unknown notification column")
        with self._write("update the notification") as conn:
            conn.execute(update(_n).where(_n.c.id == notification_id).values(**values))

    # --- the outbox ---

    def due_tasks(self, now: datetime, limit: int = 50, repair_id: str | None = None) -> list[OutboxTask]:
        """Undone tasks due by ``now`` whose lease (if any) has run out, oldest first."""
        stmt = select(_o).where(
            _o.c.done_at.is_(None),
            _o.c.next_attempt_at <= now,
            or_(_o.c.lease_until.is_(None), _o.c.lease_until < now),
        )
        if repair_id is not None:
            stmt = stmt.where(_o.c.repair_id == repair_id)
        with self._guard("read the outbox"), self.engine.connect() as conn:
            return [
                _task(row) for row in conn.execute(stmt.order_by(_o.c.next_attempt_at, _o.c.id).limit(limit))
            ]

    def pending_tasks(self) -> int:
        """Tasks not done yet (due or waiting for a retry)."""
        with self._guard("read the outbox"), self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(_o).where(_o.c.done_at.is_(None))).scalar_one()
            )

    def claim(self, task_id: str, now: datetime, lease_s: float) -> bool:
        """Take a task for ``lease_s`` seconds; True for exactly one of several workers."""
        with self._write("claim a task") as conn:
            changed = conn.execute(
                update(_o)
                .where(
                    _o.c.id == task_id,
                    _o.c.done_at.is_(None),
                    or_(_o.c.lease_until.is_(None), _o.c.lease_until < now),
                )
                .values(lease_until=now + timedelta(seconds=lease_s), attempts=_o.c.attempts + 1)
            ).rowcount
            return bool(changed == 1)

    def complete(self, task_id: str, now: datetime) -> None:
        """The task is done."""
        with self._write("complete a task") as conn:
            conn.execute(update(_o).where(_o.c.id == task_id).values(done_at=now, lease_until=None))

    def retry_later(self, task_id: str, at: datetime, error: str) -> None:
        """The attempt failed: release the lease and try again at ``at``."""
        with self._write("reschedule a task") as conn:
            conn.execute(
                update(_o)
                .where(_o.c.id == task_id)
                .values(next_attempt_at=at, lease_until=None, last_error=error[:64])
            )

    def task_attempts(self, task_id: str) -> int:
        """How often a task was attempted."""
        with self._guard("read the outbox"), self.engine.connect() as conn:
            return int(conn.execute(select(_o.c.attempts).where(_o.c.id == task_id)).scalar_one())

    # --- webhooks ---

    def set_webhook(self, webhook: Webhook, now: datetime) -> None:
        """Register (or replace) a department's webhook."""
        with self._write("register the webhook") as conn:
            conn.execute(_w.delete().where(_w.c.department == webhook.department))
            conn.execute(
                insert(_w).values(
                    department=webhook.department, url=webhook.url, key_id=webhook.key_id, created_at=now
                )
            )

    def webhook(self, department: str) -> Webhook | None:
        """The department's webhook, if it registered one."""
        with self._guard("read the webhook"), self.engine.connect() as conn:
            row = conn.execute(select(_w).where(_w.c.department == department)).one_or_none()
            return Webhook(row.department, row.url, row.key_id) if row is not None else None


__all__ = ["SqlRepairStore", "new_id"]
