"""Saved PubMed queries over HTTP, under ``/v1/apps/literature_analysis/queries`` (the gate owns access).

- ``POST /queries`` (operator; the target knowledge base is a declared resource) saves one: 201, or 409
  when the name is taken;
- ``GET /queries``, ``GET /queries/{name}`` (viewer) show them with their sync status and counts;
- ``DELETE /queries/{name}`` (operator) forgets one (its documents stay in the knowledge base);
- ``POST /queries/{name}:sync`` (operator) queues the incremental sync job and answers 202 with it (a run
  already queued or running is answered instead of a second one).

None of them calls PubMed: the job does, so an unreachable E-utilities server shows in the job and in
the query's ``last_status`` / ``last_error``, never as an error of these routes.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from moesaic.access import access
from moesaic.apps import AppContextDep, ResourceCheck, ResourceCheckDep, TenantIdDep, error_responses
from moesaic.errors import UserError

from apps.literature_analysis.saved_queries import QueryRecord, create_query, delete_query, get_query, list_queries
from apps.literature_analysis.schemas import QUERY_NAME, SavedQueriesOut, SavedQueryIn, SavedQueryOut, SyncJobOut
from apps.literature_analysis.sync import enqueue_sync, in_flight_job



class QueryNameConvertor(Convertor[str]):
    """A saved query's name in a path: no ':' in it, so ``GET /queries/x:sync`` is not ``GET /queries/{name}``
    with name ``x:sync`` (it is a 405: only POST goes there)."""

    regex = QUERY_NAME.strip("^$")

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("saved_query_name", QueryNameConvertor())
router = APIRouter(tags=["literature_analysis"])
NAME = Path(description="The saved query's name.", pattern=QUERY_NAME)


def query_out(query: QueryRecord, now: dt.datetime | None = None) -> SavedQueryOut:
    return SavedQueryOut(
        name=query.name, term=query.term, knowledge_base=query.knowledge_base, interval_hours=query.interval_hours,
        datetype=query.datetype, synced_through=query.synced_through, last_status=query.last_status,
        last_error=query.last_error, last_run_at=query.last_run_at, last_job_id=query.last_job_id,
        num_found=query.num_found, num_written=query.num_written, num_runs=query.num_runs,
        due=query.is_due(now or dt.datetime.now(dt.timezone.utc)), created_at=query.created_at,
    )


@router.post("/queries", status_code=201, openapi_extra=access(knowledge_base="body:knowledge_base"),
             responses=error_responses(409))
async def create(body: SavedQueryIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> SavedQueryOut:
    """Save a PubMed query: what to sync, into which knowledge base, how often."""
    if body.synced_through is not None and body.synced_through > dt.datetime.now(dt.timezone.utc).date():
        raise UserError("synced_through is in the future", field="synced_through")
    if not body.term.strip():
        raise UserError("term is empty", field="term")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in body.term):
        raise UserError("term holds control characters", field="term")
    record = await run_in_threadpool(
        create_query, ctx.db, tenant_id, name=body.name, term=body.term.strip(), knowledge_base=body.knowledge_base,
        interval_hours=body.interval_hours, datetype=body.datetype, synced_through=body.synced_through)
    return query_out(record)


@router.get("/queries", openapi_extra=access(role="viewer"))
async def list_saved(ctx: AppContextDep, tenant_id: TenantIdDep) -> SavedQueriesOut:
    """The tenant's saved queries with their sync status."""
    records = await run_in_threadpool(list_queries, ctx.db, tenant_id)
    return SavedQueriesOut(queries=[query_out(r) for r in records])


@router.get("/queries/{name:saved_query_name}", openapi_extra=access(role="viewer"),
            responses=error_responses(404))
async def get_saved(ctx: AppContextDep, tenant_id: TenantIdDep, name: str = NAME) -> SavedQueryOut:
    """One saved query: its cursor (`synced_through`), last run and counts."""
    return query_out(await run_in_threadpool(get_query, ctx.db, tenant_id, name))


@router.delete("/queries/{name:saved_query_name}", openapi_extra=access(),
               responses=error_responses(404))
async def delete_saved(ctx: AppContextDep, tenant_id: TenantIdDep, name: str = NAME) -> SavedQueryOut:
    """Forget a saved query (the abstracts it brought stay in the knowledge base); answers what it was."""
    return query_out(await run_in_threadpool(delete_query, ctx.db, tenant_id, name))


def _sync(ctx: AppContextDep, tenant_id: str, name: str, check: ResourceCheck) -> SyncJobOut:
    query = get_query(ctx.db, tenant_id, name)
    check("knowledge_base", query.knowledge_base, "name")  # the gate saw only the name: 403 if its base is out of reach
    info = in_flight_job(ctx, query) or enqueue_sync(ctx, tenant_id, query)
    return SyncJobOut(job_id=info.id, state=info.state, query=query.name, knowledge_base=query.knowledge_base,
                      synced_through=query.synced_through)


@router.post("/queries/{name:saved_query_name}:sync", status_code=202, openapi_extra=access(),
             responses=error_responses(404, 502))
async def sync(ctx: AppContextDep, tenant_id: TenantIdDep, may_reach: ResourceCheckDep, name: str = NAME) -> SyncJobOut:
    """Queue the incremental sync of a saved query (from `synced_through` to today, UTC) as a job; follow
    it at GET /v1/jobs/{job_id}. A run already queued or running is answered instead of a second one."""
    return await run_in_threadpool(_sync, ctx, tenant_id, name, may_reach)
