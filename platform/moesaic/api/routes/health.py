"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from moesaic.access import access
from moesaic.api.deps import PlatformDep

router = APIRouter(tags=["health"])


@router.get("/healthz", openapi_extra=access(public=True))
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None, openapi_extra=access(public=True))
def readyz(platform: PlatformDep) -> Any:
    checks: dict[str, str] = {}
    try:
        with platform.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {exc}"
    checks["model"] = platform.model.name
    apps = dict(platform.app_status)
    ready = checks["database"] == "ok" and not any(status.startswith("error") for status in apps.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks, "apps": apps},
                        status_code=200 if ready else 503)


@router.get("/metrics", openapi_extra=access(public=True))
def metrics(platform: PlatformDep) -> Response:
    platform.metrics.ingestion_queue.set(platform.knowledge.queue_depth())
    return Response(platform.metrics.render(), media_type=CONTENT_TYPE_LATEST)
