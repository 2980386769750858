"""Webhook delivery over HTTP (httpx): one POST, a short timeout, no redirects followed.

A receiver's failure is an answer, not an exception: the outbox worker retries with backoff.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gateway.ports import WebhookReply


class HttpWebhookSender:
    """``WebhookSender`` over one pooled httpx client."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookReply:
        """POST ``body``; the status, or None with the error's type when the receiver is unreachable."""
        try:
            response = self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            return WebhookReply(None, type(exc).__name__)
        return WebhookReply(response.status_code)

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()
