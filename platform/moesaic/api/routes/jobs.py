"""Jobs of the caller's tenant: one job, a filtered list, cancel.

The gate decides who sees what: a job owned by an app the key may not use is reported as not found,
a list filtered by such an app is refused naming it, and core jobs (app ``platform``, e.g. ingestion)
belong to the app that owns their knowledge base (tenant-wide when no app does). The queue itself is ``platform.jobs``; this module only speaks HTTP.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import JobList, JobOut, JobState

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}", openapi_extra=access(job="path:job_id"))
def get_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> JobOut:
    """One job of the caller's tenant (404 for another tenant's, or an app's the key may not use)."""
    return JobOut(**platform.jobs.get(principal.tenant_id, job_id).to_dict())


@router.get("/v1/jobs", openapi_extra=access(app="query:app"))
def list_jobs(
    platform: PlatformDep,
    principal: PrincipalDep,
    app: str | None = Query(default=None, max_length=64),
    state: JobState | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
) -> JobList:
    """The tenant's newest jobs that this key may see (``app=platform``: the core's jobs, e.g. ingestion)."""
    jobs = platform.jobs.list_jobs(principal.tenant_id, app=app, state=state, limit=limit)
    visible = [job for job in jobs if (owner := platform.job_owner(job)) is None or principal.may_use(owner)]
    return JobList(object="list", data=[JobOut(**job.to_dict()) for job in visible])


@router.post("/v1/jobs/{job_id}/cancel", openapi_extra=access(job="path:job_id"), responses=error_responses(409))
def cancel_job(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> JobOut:
    """Cancel a queued or running job (409 when it already finished)."""
    return JobOut(**platform.jobs.cancel(principal.tenant_id, job_id).to_dict())
