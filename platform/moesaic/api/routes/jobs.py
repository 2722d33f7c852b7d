"""Jobs of the caller's tenant: one job, a filtered list, cancel.

A job owned by an app the key may not use is reported as not found; a list filtered by such an app
is refused naming it. Core jobs (app ``platform``, e.g. ingestion) are visible to every key of the
tenant. The queue itself is ``platform.jobs``; this module only speaks HTTP.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import Forbidden, NotFound
from moesaic.jobs import JobInfo
from moesaic.memory import Principal

router = APIRouter(tags=["jobs"])
CORE_APP = "platform"
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _may_see(principal: Principal, app: str) -> bool:
    return app == CORE_APP or principal.may_use(app)


def _visible(platform: Any, principal: Principal, job_id: str) -> JobInfo:
    info: JobInfo = platform.jobs.get(principal.tenant_id, job_id)
    if not _may_see(principal, info.app):
        raise NotFound(f"job {job_id!r} not found", field="job_id")
    return info


# ACCESS: job="path:job_id"
@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return _visible(platform, principal, job_id).to_dict()


# ACCESS: app="query:app"
@router.get("/v1/jobs")
def list_jobs(
    platform: PlatformDep,
    principal: PrincipalDep,
    app: str | None = Query(default=None, max_length=64),
    state: JobState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    if app is not None and not _may_see(principal, app):
        raise Forbidden(f"this API key may not use app {app!r}", field="app")
    jobs = platform.jobs.list_jobs(principal.tenant_id, app=app, state=state, limit=limit)
    return {"object": "list", "data": [job.to_dict() for job in jobs if _may_see(principal, job.app)]}


# ACCESS: job="path:job_id"
@router.post("/v1/jobs/{job_id}/cancel")
def cancel_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    _visible(platform, principal, job_id)
    return platform.jobs.cancel(principal.tenant_id, job_id).to_dict()  # type: ignore[no-any-return]
