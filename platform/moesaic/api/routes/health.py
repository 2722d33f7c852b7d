"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from moesaic.access import access
from moesaic.api.deps import PlatformDep
from moesaic.errors import ERROR_DESCRIPTIONS
from moesaic.api.schemas import Health, Readiness, ReadinessChecks

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", openapi_extra=access(public=True))
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": ERROR_DESCRIPTIONS[503] + " `checks` says what failed."}},
    openapi_extra=access(public=True),
)
def readyz(platform: PlatformDep) -> JSONResponse:
    """Ready to serve: the database answers, the embedders loaded and every app warmed up (503 otherwise,
    with the same body)."""
    database = "ok"
    try:
        with platform.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # readiness reports, it does not raise; the details go to the log, not to anyone asking
        log.exception("readiness: the database does not answer")
        database = "error"
    apps = {name: ("error" if status.startswith("error") else status) for name, status in platform.app_status.items()}
    embedder = "error" if platform.embedder_status.startswith("error") else platform.embedder_status
    ready = database == "ok" and embedder != "error" and "error" not in apps.values()
    checks = ReadinessChecks(database=database, model=platform.model.name, embedder=embedder)
    body = Readiness(status="ready" if ready else "not ready", checks=checks, apps=apps)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse, openapi_extra=access(public=True))
def metrics(platform: PlatformDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    platform.metrics.ingestion_queue.set(platform.knowledge.queue_depth())
    return Response(platform.metrics.render(), media_type=CONTENT_TYPE_LATEST)
