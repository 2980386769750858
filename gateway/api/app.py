"""The FastAPI application: routers, problem handlers, the OpenAPI document and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.api.deps import Services
from gateway.api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from gateway.api.problems import install_problem_handlers
from gateway.api.routes import (
    audit,
    auth,
    catalog,
    disclosure,
    grants,
    health,
    keys,
    lists,
    notifications,
    policy,
    queries,
    repairs,
)
from gateway.api.schemas.problems import PROBLEM_JSON


class Served(Protocol):
    """What the composition root hands the app: the services, and how to release them at shutdown."""

    @property
    def services(self) -> Services:
        """What the routes serve with."""
        ...

    def close(self) -> None:
        """Release what the components hold."""
        ...


def create_app(
    build: Callable[[], Served] | None = None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    """Build the app; ``build`` makes the components once, at startup, and they are closed at shutdown.

    Without ``build`` the app can only describe itself (``gateway openapi``), or serve what a test
    provides through ``app.dependency_overrides``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if build is None:
            yield
            return
        components = build()
        app.state.services = components.services
        try:
            yield
        finally:
            components.close()

    app = FastAPI(
        title="Credit information sharing gateway",
        version="0.1.0",
        summary="Catalog-scoped, policy-decided, desensitized and registered access to credit information.",
        lifespan=lifespan,
        # The docs pages are served by the console from vendored assets (no CDN), see gateway.console.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    modules = (
        health,
        catalog,
        auth,
        queries,
        grants,
        audit,
        keys,
        policy,
        repairs,
        notifications,
        lists,
        disclosure,
    )
    for module in modules:
        app.include_router(module.router)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]  # FastAPI's documented hook
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with errors described as problem+json only (FastAPI adds plain JSON)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        for path in document.get("paths", {}).values():
            for operation in path.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_JSON in content:
                        content.pop("application/json", None)
        app.openapi_schema = document
    return app.openapi_schema
