"""Telling recipients of a repaired record (clause (12)): the outbox, the pull feed, signed webhooks.

A repair's effect writes its outbox tasks in the same transaction (see ``RepairStore.accept``):
register its ledger entry, then search the ledger for the departments that received the record
(query entries carry keyed record commitments), then, per department found, register a notification
and, where the department registered a webhook, deliver it. Every task can run again after a crash
without doing anything twice that matters: a registered entry is not appended again, a department
gets one notification per repair (a unique key), and a webhook is delivered at least once (the
receiver deduplicates by the ``Gateway-Delivery`` header). Failed deliveries back off exponentially.

Webhook signature (documented in the README)::

    Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
    Gateway-Delivery:  <notification id>

The secret is derived from the gateway's key for (department, key id) and handed out once when the
department registers its webhook; the gateway stores none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.catalog import Catalog
from gateway.domain.ledger.envelope import decode_envelope
from gateway.domain.ledger.records import NotificationRecord
from gateway.domain.ledger.terms import EntryFilter
from gateway.domain.repairs import Notification, OutboxTask, Recipient, Repair, TaskKind, Webhook, retry_delay
from gateway.domain.times import rfc3339
from gateway.errors import InvalidRequest, NotFound, RepairNotFound
from gateway.ports import Actor, Clock, KeyStore, Ledger, Receipt, ReceiptSearch, RepairStore, WebhookSender
from gateway.services.registration import register
from gateway.services.repairs import RepairService

log = logging.getLogger("gateway.notifications")
_WEBHOOK_LABEL = b"credit-gateway/webhook-secret/v1"
SIGNATURE_HEADER = "Gateway-Signature"
DELIVERY_HEADER = "Gateway-Delivery"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Leases and backoff of the outbox worker."""

    lease_s: float = 30.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    poll_s: float = 1.0


class NotificationService:
    """Runs outbox tasks and serves the recipients' feed; one instance per process."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: RepairStore,
        ledger: Ledger,
        search: ReceiptSearch,
        sender: WebhookSender,
        repairs: RepairService,
        keystore: KeyStore,
        clock: Clock,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.ledger = ledger
        self.search = search
        self.sender = sender
        self.repairs = repairs
        self.keystore = keystore
        self.clock = clock
        self.policy = policy or DeliveryPolicy()

    # --- the outbox ---

    def run_due(self, *, repair_id: str | None = None, kinds: frozenset[TaskKind] | None = None) -> int:
        """Run every due task (of one repair, of some kinds); return how many completed."""
        done = 0
        for _ in range(20):  # a task may create others (a search creates notifications)
            tasks = [
                t
                for t in self.store.due_tasks(self.clock.now(), repair_id=repair_id)
                if kinds is None or t.kind in kinds
            ]
            if not tasks:
                break
            progressed = 0
            for task in tasks:
                if self.run_task(task):
                    progressed += 1
            done += progressed
            if not progressed:
                break
        return done

    def run_owned(self, tasks: list[OutboxTask]) -> None:
        """Run tasks already leased to the caller (an accept's), then the repair's other due tasks."""
        for task in tasks:
            self.run_task(task, claimed=True)
        repair_ids = {t.repair_id for t in tasks}
        for repair_id in repair_ids:
            self.run_due(repair_id=repair_id, kinds=frozenset({TaskKind.REGISTER_NOTIFICATION}))

    def run_task(self, task: OutboxTask, *, claimed: bool = False) -> bool:
        """Claim (unless ``claimed``) and run one task; True when it completed."""
        now = self.clock.now()
        if not claimed and not self.store.claim(task.id, now, self.policy.lease_s):
            return False
        try:
            finished = self._run(task)
        except Exception as exc:
            log.warning(
                "outbox task failed", extra={"task": str(task.kind), "error_type": type(exc).__name__}
            )
            self._retry(task, type(exc).__name__)
            return False
        if finished:
            self.store.complete(task.id, self.clock.now())
        return finished

    def _retry(self, task: OutboxTask, error: str) -> None:
        attempts = task.attempts + 1
        delay = retry_delay(attempts, base_s=self.policy.retry_base_s, max_s=self.policy.retry_max_s)
        self.store.retry_later(task.id, self.clock.now() + delay, error)

    def _run(self, task: OutboxTask) -> bool:
        repair = self.store.get(task.repair_id)
        if repair is None:
            return True  # nothing left to do for a repair that does not exist
        if task.kind is TaskKind.REGISTER_REPAIR:
            if repair.decision_ledger_index is None:
                receipt = self._register(self.repairs.decision_record(repair))
                self.store.mark_decision_registered(repair.id, receipt.index)
            return True
        if task.kind is TaskKind.SCAN:
            self.store.add_notifications(repair.id, self.recipients(repair), self.clock.now())
            return True
        notification = self.store.notification(task.notification_id or "")
        if notification is None:
            return True
        if task.kind is TaskKind.REGISTER_NOTIFICATION:
            if notification.ledger_index is None:
                receipt = self._register(self._notification_record("issued", repair, notification))
                self.store.set_notification(notification.id, ledger_index=receipt.index)
            return True
        return self._deliver(task, repair, notification)

    def _deliver(self, task: OutboxTask, repair: Repair, notification: Notification) -> bool:
        hook = self.store.webhook(notification.department)
        if hook is None:
            return True  # the department withdrew its webhook; the pull feed still has it
        if notification.delivered_at is None:
            body = json.dumps(
                self.message(repair, notification), sort_keys=True, separators=(",", ":")
            ).encode()
            headers = self.signed_headers(hook, body, notification.id)
            reply = self.sender.post(hook.url, body, headers)
            if reply.status is None or not 200 <= reply.status < 300:
                self._retry(task, reply.error or f"http_{reply.status}")
                return False
            self.store.set_notification(notification.id, delivered_at=self.clock.now())
        record = self._notification_record("delivered", repair, notification, attempts=task.attempts + 1)
        self._register(record)
        return True

    def outbox_backlog(self) -> int:
        """Outbox tasks not done yet (registrations, searches, deliveries), for the metrics."""
        return self.store.pending_tasks()

    def recipients(self, repair: Repair) -> list[Recipient]:
        """The departments whose allowed queries released this record unrepaired, first receipt each."""
        commitment = self.repairs.record_commitment(repair.item, repair.record_key)
        wanted = EntryFilter(
            kind="query", decision="allow", item=repair.item, subject=repair.subject_commitment
        )
        first: dict[str, Recipient] = {}
        for entry in self.search.iter_entries(wanted):
            envelope = decode_envelope(entry.leaf)
            record = envelope.record
            if commitment not in (record.get("record_commitments") or ()):
                continue
            department = str(record.get("department"))
            if department not in first:
                received = datetime.fromisoformat(envelope.logged_at.replace("Z", "+00:00"))
                first[department] = Recipient(department, entry.index, received)
        return list(first.values())

    # --- what recipients see ---

    def message(self, repair: Repair, notification: Notification) -> dict[str, object]:
        """The notification as a recipient receives it (feed and webhook alike)."""
        commitment = self.repairs.record_commitment(repair.item, repair.record_key)
        return {
            "type": "credit_repair.effective",
            "notification_id": notification.id,
            "repair_id": repair.id,
            "item": repair.item,
            "record_ref": self.repairs.recipient_ref(notification.department, commitment),
            "mode": str(repair.mode),
            "effective_at": rfc3339(repair.effective_at) if repair.effective_at else None,
            "received_index": notification.received_index,
            "received_at": rfc3339(notification.received_at),
            "created_at": rfc3339(notification.created_at),
            "acknowledged_at": rfc3339(notification.acked_at) if notification.acked_at else None,
            "free_of_charge": True,
        }

    def feed(
        self, actor: Actor, *, unacknowledged: bool = False, limit: int = 100
    ) -> list[dict[str, object]]:
        """The caller's department's notifications, oldest first."""
        out = []
        for notification in self.store.notifications(
            department=actor.department, unacknowledged=unacknowledged, limit=limit
        ):
            repair = self.store.get(notification.repair_id)
            if repair is not None:
                out.append(self.message(repair, notification))
        return out

    def acknowledge(self, actor: Actor, notification_id: str) -> Receipt:
        """Acknowledge one notification of the caller's department (registered); once only."""
        existing = self.store.notification(notification_id)
        if existing is None or existing.department != actor.department:
            raise NotFound("no notification with this id", field="notification_id")
        acked = self.store.acknowledge(notification_id, actor.department, actor.client_id, self.clock.now())
        if acked is None:
            raise InvalidRequest("the notification was already acknowledged", field="notification_id")
        repair = self.store.get(acked.repair_id)
        if repair is None:
            raise RepairNotFound("the repair disappeared", field="notification_id")
        receipt = self._register(
            self._notification_record("acknowledged", repair, acked, client_id=actor.client_id)
        )
        self.store.set_notification(acked.id, ack_ledger_index=receipt.index)
        return receipt

    def unacknowledged(self, limit: int = 500) -> list[dict[str, object]]:
        """Every notification not yet acknowledged, with its recipient, for auditors."""
        out = []
        for notification in self.store.notifications(unacknowledged=True, limit=limit):
            repair = self.store.get(notification.repair_id)
            if repair is None:
                continue
            message = self.message(repair, notification)
            message["department"] = notification.department
            message["registered_index"] = notification.ledger_index
            message["delivered_at"] = (
                rfc3339(notification.delivered_at) if notification.delivered_at else None
            )
            out.append(message)
        return out

    # --- webhooks ---

    def register_webhook(self, actor: Actor, url: str) -> str:
        """Register the caller's department's webhook; return its signing secret (shown once, hex)."""
        if not (url.startswith("https://") or url.startswith("http://")) or len(url) > 500:
            raise InvalidRequest("url must be an http(s) URL of at most 500 characters", field="url")
        hook = Webhook(actor.department, url, uuid.uuid4().hex)
        self.store.set_webhook(hook, self.clock.now())
        return self.webhook_secret(hook).hex()

    def webhook_secret(self, hook: Webhook) -> bytes:
        """The signing secret of a webhook registration (derived, never stored)."""
        message = _WEBHOOK_LABEL + b"\x00" + hook.department.encode() + b"\x00" + hook.key_id.encode()
        return hmac.new(self.keystore.secret("commitment"), message, hashlib.sha256).digest()

    def signed_headers(self, hook: Webhook, body: bytes, delivery_id: str) -> dict[str, str]:
        """The headers of one delivery: content type, delivery id and signature."""
        stamp = str(int(self.clock.now().timestamp()))
        mac = hmac.new(self.webhook_secret(hook), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: f"t={stamp},v1={mac}",
        }

    # --- internals ---

    def _register(self, record: NotificationRecord | object) -> Receipt:
        return register(self.ledger, record, log=log, failure="the notification could not be registered")  # type: ignore[arg-type]  # RepairRecord or NotificationRecord

    def _notification_record(
        self,
        action: str,
        repair: Repair,
        notification: Notification,
        *,
        client_id: str | None = None,
        attempts: int | None = None,
    ) -> NotificationRecord:
        return NotificationRecord(
            action=action,  # type: ignore[arg-type]  # issued / delivered / acknowledged
            notification_id=notification.id,
            repair_id=repair.id,
            item=repair.item,
            record_commitment=self.repairs.record_commitment(repair.item, repair.record_key),
            recipient=notification.department,
            received_index=notification.received_index,
            client_id=client_id,
            attempts=attempts,
        )


class DeliveryWorker:
    """A thread in each serving process that runs due outbox tasks until stopped."""

    def __init__(
        self, service: NotificationService, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="repair-outbox", daemon=True)
        self._on_error = on_error

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the current pass to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.service.run_due()
            except Exception as exc:  # a store outage: try again on the next pass
                log.warning("outbox pass failed", extra={"error_type": type(exc).__name__})
                if self._on_error is not None:
                    self._on_error(exc)
            self._stop.wait(self.service.policy.poll_s)
