"""Build the FastAPI application: one router per resource behind one gate, errors in OpenAI's shape, metrics,
the documented contract (``api.openapi``) and offline docs pages (``api.docs``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from moesaic.api.app_routes import mount_app_routers
from moesaic.api.docs import install_docs
from moesaic.api.errors import install_error_handlers
from moesaic.api.gate import authorize, check_routes, install_gate
from moesaic.api.openapi import install_openapi
from moesaic.api.response_hooks import OnResponseStart
from moesaic.api.routes import (accounts, answers, apps, audit, chat, conversations, health, inbox, jobs, keys, knowledge, lifecycle,
                                 models)
from moesaic.config import Settings, get_settings
from moesaic.heap import freeze_startup_heap
from moesaic.privacy import install_log_redaction
from moesaic.services import Platform

DESCRIPTION = """Domain AI assistants over a Mixture-of-Experts model service.

Every `/v1` operation needs `Authorization: Bearer <key>` (an API key, or a console session key from
`POST /v1/sessions`). Errors have OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
`POST /v1/chat/completions` is OpenAI's chat API, where `model` names an app, with Moesaic's extensions
(stored conversations, citations, tool events, hand-off to a person)."""
CORE_ROUTERS = (chat, apps, conversations, answers, inbox, knowledge, jobs, models, keys, accounts, audit, lifecycle, health)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    """The API over ``platform`` (built from ``settings`` at start-up when not given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        install_log_redaction()
        app.state.platform = platform or Platform.create(settings or get_settings())
        mount_app_routers(app, app.state.platform)
        check_routes(app)
        if owned:
            app.state.platform.warm_up()  # heavy app models load before /readyz says ready
        freeze_startup_heap()
        try:
            yield
        finally:
            if owned:
                app.state.platform.close()

    # The gate is a dependency of the application's router, so every route included later has it too.
    app = FastAPI(title="Moesaic", version="0.1.0", lifespan=lifespan, dependencies=[Depends(authorize)],
                  description=DESCRIPTION, docs_url=None, redoc_url=None)
    if platform is not None:
        app.state.platform = platform
    install_error_handlers(app)
    install_gate(app)
    install_openapi(app)
    install_docs(app)
    for module in CORE_ROUTERS:
        app.include_router(module.router)
    if platform is not None:
        mount_app_routers(app, platform)  # now, so the routes are in the OpenAPI schema from the start
    check_routes(app)

    app.add_middleware(RequestMetrics)
    return app


class RequestMetrics(OnResponseStart):
    """Counts each HTTP request by route, method and status, and observes its latency to the response's start."""

    async def response_starts(self, scope: Any, status: int, started: float) -> None:
        metrics = getattr(getattr(scope["app"].state, "platform", None), "metrics", None)
        if metrics is not None:
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.requests.labels(path, scope["method"], str(status)).inc()
            metrics.latency.labels(path).observe(time.perf_counter() - started)
