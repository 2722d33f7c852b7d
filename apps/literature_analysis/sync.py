"""Saved queries synced from PubMed as jobs of the platform's queue, on demand and on a schedule.

``sync_job`` (queue key ``literature_analysis.pubmed_sync``) wraps ``connectors.pubmed_job.make_sync_job``:
the cursor is the saved query's ``synced_through`` (``saved_queries.DbCursorStore``), the records go to
the query's knowledge base, and the PMIDs each window brought are remembered for the query (in the
transaction that moves the cursor past the window). The run's
outcome lands on the query's row: ``succeeded`` with counts (in the job's completing transaction) or
``failed`` with the error (malformed XML names the PMID; the windows stored before it stay stored and
``synced_through`` stays after them). A malformed record or a rejected query fails the job at once (a
retry would read the same); an unreachable PubMed is retried by the queue, then fails.

``enqueue_sync`` asks for one run; ``enqueue_due`` asks for one run of every due query (never run, or
its interval passed since its last run ended), at most one per query and schedule slot: the periodic
chore of every worker (``install_schedule``) and ``moesaic apps literature_analysis sync-due`` call it.

PubMed settings come from ``MOESAIC_PUBMED_*`` (``connectors.pubmed.PubMedSettings``), read in ``setup``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from connectors.pubmed import PubMedClient, PubMedSettings, load_settings
from connectors.pubmed_job import SYNC_JOB, SyncJobPayload, enqueue_due_syncs, make_sync_job
from connectors.pubmed_xml import PubMedParseError
from moesaic.apps import AppContext
from moesaic.errors import NotFound, UpstreamError
from moesaic.jobs import FailJob, JobContext, JobInfo, ReleaseJob

from apps.literature_analysis.embedder import EMBEDDER_NAME
from apps.literature_analysis.saved_queries import (
    DbCursorStore,
    QueryRecord,
    get_query,
    list_queries,
    mark,
    record_success,
)

log = logging.getLogger(__name__)
APP = "literature_analysis"
DEFAULT_KB = "literature"  # the chat app's knowledge base
SCHEDULE_CHECK_S = 300.0  # how often a worker looks for due queries


def pubmed_settings(services: dict[str, Any]) -> PubMedSettings:
    settings = services.get("pubmed_settings")
    if settings is None:
        settings = services["pubmed_settings"] = load_settings()
    return settings  # type: ignore[no-any-return]


def payload_of(query: QueryRecord, until: dt.date | None = None) -> SyncJobPayload:
    return SyncJobPayload(query=query.name, term=query.term, datetype=query.datetype,  # type: ignore[arg-type]
                          knowledge_base=query.knowledge_base, until=until)


class _QueryWriter:
    """The knowledge service's ``add_document`` that also notes each stored PMID in the cursor store's
    ``pending`` set: the cursor's next move (after the window) remembers them for the query."""

    def __init__(self, ctx: AppContext, cursors: DbCursorStore) -> None:
        self.ctx, self.cursors = ctx, cursors

    def add_document(self, tenant_id: str, kb: str, filename: str, data: bytes, *,
                     metadata: dict[str, Any] | None = None) -> Any:
        info = self.ctx.knowledge.add_document(tenant_id, kb, filename, data, metadata=metadata)
        pmid = (metadata or {}).get("pmid")
        if pmid:
            self.cursors.pending.add(str(pmid))
        return info


def sync_job(job: JobContext) -> dict[str, Any]:
    ctx: AppContext = job.app_context
    name = str((job.payload or {}).get("query", ""))
    try:
        get_query(ctx.db, job.tenant_id, name)
    except NotFound as exc:
        raise FailJob(f"saved query {name!r} no longer exists") from exc
    settings = pubmed_settings(ctx.services)
    cursors = DbCursorStore(ctx.db, job.tenant_id)
    run = make_sync_job(lambda _job: cursors, client_factory=lambda: PubMedClient(settings),
                        writer_for=lambda _job: _QueryWriter(ctx, cursors))
    mark(ctx.db, job.tenant_id, name, "running", job_id=job.job_id)
    if (job.payload or {}).get("knowledge_base") == DEFAULT_KB:  # the app's own base: with its embedder from the start
        ctx.knowledge.configure_knowledge_base(job.tenant_id, DEFAULT_KB, embedder=EMBEDDER_NAME)
    try:
        report = run(job)
    except ReleaseJob:
        mark(ctx.db, job.tenant_id, name, "queued")
        raise
    except PubMedParseError as exc:  # the same record would be malformed again: no retry
        mark(ctx.db, job.tenant_id, name, "failed", error=str(exc))
        raise FailJob(str(exc)) from exc
    except Exception as exc:
        mark(ctx.db, job.tenant_id, name, "failed", error=str(exc) or type(exc).__name__)
        raise
    with job.complete(report) as session:
        record_success(session, job.tenant_id, name, report)
    return report


def enqueue_sync(ctx: AppContext, tenant_id: str, query: QueryRecord) -> JobInfo:
    """One run of ``query`` (from its ``synced_through`` to today, UTC)."""
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    info: JobInfo = ctx.jobs.enqueue(tenant_id, APP, SYNC_JOB, payload_of(query).model_dump(mode="json", exclude_none=True))
    mark(ctx.db, tenant_id, query.name, "queued", job_id=info.id)
    return info


def in_flight_job(ctx: AppContext, query: QueryRecord) -> JobInfo | None:
    """The query's run that is still queued or running, if any."""
    if query.last_status not in ("queued", "running") or not query.last_job_id or ctx.jobs is None:
        return None
    try:
        info: JobInfo = ctx.jobs.get(query.tenant_id, query.last_job_id)
    except NotFound:
        return None
    return info if info.state in ("queued", "running") else None


def enqueue_due(ctx: AppContext, *, tenant_id: str | None = None, now: dt.datetime | None = None) -> list[JobInfo]:
    """A run for every due query (of one tenant, or all) that has none queued or running; one per
    query and schedule slot whoever asks (the slot is the query's interval)."""
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    now = now or dt.datetime.now(dt.timezone.utc)
    started = []
    for query in list_queries(ctx.db, tenant_id):
        if not query.is_due(now) or in_flight_job(ctx, query) is not None:
            continue
        (info,) = enqueue_due_syncs(ctx.jobs, query.tenant_id, APP, [payload_of(query)],
                                    every=dt.timedelta(hours=query.interval_hours), now=now)
        if info.state in ("queued", "running"):
            mark(ctx.db, query.tenant_id, query.name, "queued", job_id=info.id)
            started.append(info)
    return started


def install_schedule(ctx: AppContext) -> None:
    """Every worker of this process's queue looks for due queries every ``SCHEDULE_CHECK_S`` seconds."""
    add_chore = getattr(ctx.jobs, "add_chore", None)
    if add_chore is None:
        return

    def sync_due_queries() -> None:
        for info in enqueue_due(ctx):
            log.info("queued PubMed sync %s for tenant %s", info.id, info.tenant_id)

    add_chore(SCHEDULE_CHECK_S, sync_due_queries)
