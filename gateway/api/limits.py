"""The request body limit, as a plain ASGI middleware (no extra task per request, unlike
Starlette's ``BaseHTTPMiddleware``).

A declared ``Content-Length`` above the limit is refused before a byte of the body is read. The body
itself is counted as it streams in, so a chunked body, or one longer than the length it declared,
is cut off at the limit too: the route reading it gets a 413 (an HTTPException, which FastAPI
passes through its body parsing) instead of the rest of the body.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import problem_response
from gateway.errors import RequestTooLarge

DEFAULT_MAX_BODY_BYTES = 1_048_576


def _too_large(limit: int) -> str:
    return f"the request body is larger than this gateway accepts ({limit} bytes)"


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 problem+json (code ``request_too_large``)."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1  # not a length: h11 and httptools refuse it already
                if declared > limit:
                    response = problem_response(
                        RequestTooLarge.status, RequestTooLarge.code, RequestTooLarge.title, _too_large(limit)
                    )
                    # Nothing of the body is read; the server closes the connection after answering.
                    response.headers["Connection"] = "close"
                    await response(scope, receive, send)
                    return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(RequestTooLarge.status, _too_large(limit))
            return message

        await self.app(scope, counted, send)
