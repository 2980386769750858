"""Check real HTTP responses against the gateway's own OpenAPI document.

``OpenApiChecker.check(response)`` finds the operation the request went to, the response the
document declares for its status and media type, and validates the body with jsonschema against
that schema (references resolved inside the document). Anything undeclared is a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from gateway.api.app import create_app


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


@dataclass
class OpenApiChecker:
    """Validates responses against the OpenAPI document and remembers which (operation, status) it saw."""

    document: dict[str, Any] = field(default_factory=lambda: create_app().openapi())
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The path template and operation object ``method path`` is routed to."""
        for template, item in self.document["paths"].items():
            if _pattern(template).match(path) and method.lower() in item:
                return template, item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")

    def check(self, response: httpx.Response) -> None:
        """Fail unless the document declares this status and media type and the body fits its schema."""
        request = response.request
        template, operation = self.operation(request.method, request.url.path)
        status = str(response.status_code)
        declared = operation["responses"].get(status)
        assert declared is not None, f"{request.method} {template} answered {status}, which is undeclared"
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = declared.get("content", {})
        assert media in content, f"{request.method} {template} {status}: {media} not in {sorted(content)}"
        self.seen.add((request.method, template, status))
        schema = content[media].get("schema")
        if schema is None or media.startswith("text/") or media == "application/jsonl":
            return
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
        assert not errors, f"{request.method} {template} {status}: " + "; ".join(
            f"{list(e.path)}: {e.message}" for e in errors[:5]
        )
