"""Repair notifications for recipient departments: the pull feed, acknowledgements, webhooks.

A department that received a record through a query is told when the record is repaired. Scope
``query`` (the departments that receive records) reads its own feed, acknowledges, and registers its
webhook; auditors (``audit:read``) see every notification not yet acknowledged.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.api.deps import NotificationServiceDep, Principal, require_scope
from gateway.api.schemas.problems import problems
from gateway.api.schemas.receipts import receipt_response
from gateway.api.schemas.repairs import (
    AckResponse,
    AuditNotificationListResponse,
    AuditNotificationResponse,
    NotificationListResponse,
    NotificationResponse,
    WebhookRequest,
    WebhookResponse,
)
from gateway.ports import Actor
from gateway.services.notifications import DELIVERY_HEADER, SIGNATURE_HEADER

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
RecipientPrincipal = Annotated[Principal, Depends(require_scope("query"))]
AuditorPrincipal = Annotated[Principal, Depends(require_scope("audit:read"))]
_ERRORS = problems(401, 403, 422, 503, s503="the repair store or the ledger failed")


def _actor(principal: Principal) -> Actor:
    return Actor(principal.client_id, principal.department)


@router.get("", response_model=NotificationListResponse, responses=_ERRORS)
def list_notifications(
    principal: RecipientPrincipal,
    service: NotificationServiceDep,
    unacknowledged: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NotificationListResponse:
    """The department's notifications, oldest first (``unacknowledged=true``: only those not acked)."""
    feed = service.feed(_actor(principal), unacknowledged=unacknowledged, limit=limit)
    return NotificationListResponse(notifications=[NotificationResponse.model_validate(n) for n in feed])


@router.get("/unacknowledged", response_model=AuditNotificationListResponse, responses=_ERRORS)
def unacknowledged_notifications(
    principal: AuditorPrincipal, service: NotificationServiceDep
) -> AuditNotificationListResponse:
    """Every notification no recipient has acknowledged yet (for auditors)."""
    rows = service.unacknowledged()
    return AuditNotificationListResponse(
        notifications=[AuditNotificationResponse.model_validate(n) for n in rows]
    )


@router.post(
    "/{notification_id}/ack",
    response_model=AckResponse,
    responses={**_ERRORS, **problems(404, s404="no such notification")},
)
def acknowledge_notification(
    notification_id: str, principal: RecipientPrincipal, service: NotificationServiceDep
) -> AckResponse:
    """Acknowledge that the repair was applied to the department's copy (registered; once)."""
    return AckResponse(receipt=receipt_response(service.acknowledge(_actor(principal), notification_id)))


@router.put("/webhook", response_model=WebhookResponse, responses=_ERRORS)
def register_webhook(
    body: WebhookRequest, principal: RecipientPrincipal, service: NotificationServiceDep
) -> WebhookResponse:
    """Register (or replace) the department's webhook; the signing secret is returned once."""
    secret = service.register_webhook(_actor(principal), body.url)
    return WebhookResponse(
        department=principal.department,
        url=body.url,
        secret=secret,
        signature_header=SIGNATURE_HEADER,
        delivery_header=DELIVERY_HEADER,
        registered_at=service.clock.now(),
    )
