"""The FastAPI application: routers, problem handlers and the lifespan that owns heavy objects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI

from gateway.api.problems import install_problem_handlers
from gateway.api.routes import audit, auth, catalog, grants, health, queries


class Served(Protocol):
    """What the composition root hands the app: components to install on its state, closed at shutdown."""

    def install(self, state: Any) -> None:
        """Expose the components to the routers."""
        ...

    def close(self) -> None:
        """Release what the components hold."""
        ...


def create_app(build: Callable[[], Served] | None = None) -> FastAPI:
    """Build the app; ``build`` makes the components once, at startup, and they are closed at shutdown.

    Without ``build`` the app can only describe itself (``gateway openapi``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if build is None:
            yield
            return
        components = build()
        components.install(app.state)
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
    for module in (health, catalog, auth, queries, grants, audit):
        app.include_router(module.router)
    return app
