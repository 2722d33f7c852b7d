"""Build the FastAPI application: one router per resource, errors in OpenAI's shape, metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from moesaic.api.errors import install_error_handlers
from moesaic.api.routes import apps, chat, conversations, health, inbox, jobs, knowledge
from moesaic.config import Settings, get_settings
from moesaic.privacy import install_log_redaction
from moesaic.services import Platform


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> FastAPI:
    """The API over ``platform`` (built from ``settings`` at start-up when not given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        install_log_redaction()
        app.state.platform = platform or Platform.create(settings or get_settings())
        for manifest in app.state.platform.apps:
            if manifest.api_router is not None:
                app.include_router(manifest.api_router, prefix=f"/v1/apps/{manifest.name}")
        try:
            yield
        finally:
            if owned:
                app.state.platform.close()

    app = FastAPI(title="Moesaic", version="0.1.0", lifespan=lifespan,
                  description="Domain AI assistants over a Mixture-of-Experts model service.")
    if platform is not None:
        app.state.platform = platform
    install_error_handlers(app)
    for module in (chat, apps, conversations, inbox, knowledge, jobs, health):
        app.include_router(module.router)

    @app.middleware("http")
    async def _metrics(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics = getattr(getattr(request.app.state, "platform", None), "metrics", None)
        if metrics is not None:
            metrics.requests.labels(path, request.method, str(response.status_code)).inc()
            metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    return app
