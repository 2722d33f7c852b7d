"""The PubMed sync as a job of the platform's queue, and its schedule.

``make_sync_job(cursors_for)`` builds a handler for an app's manifest (``jobs={"pubmed_sync": ...}``):
its payload names a saved query and the knowledge base to fill; it runs ``pubmed_sync.sync_query``
into that knowledge base (``ctx.knowledge``), reports progress (which renews the job's lease), hands
the job back when its worker stops, and returns the sync's report as the job's result. The app
decides where cursors live (``cursors_for(job)``, e.g. a column of its saved-query table).

``enqueue_due_syncs`` asks for one sync per query and schedule slot (a ``dedupe_key`` made of the
slot): whatever calls it (a command run by cron, a loop) may call it as often as it likes.

Not here: the app's tables or routes, a clock that calls ``enqueue_due_syncs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.article_sinks import DocumentWriter, KnowledgeBaseSink
from connectors.pubmed import DateType, PubMedClient, PubMedQueryError, QueryTooLarge, load_settings
from connectors.pubmed_sync import CursorStore, SavedQuery, schedule_slot, sync_query
from moesaic.jobs import FailJob, JobContext, JobInfo, ReleaseJob

SYNC_JOB = "pubmed_sync"


class SyncJobPayload(BaseModel):
    """What a sync job is asked to do."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=200)  # the saved query's name (its cursor's key)
    term: str = Field(min_length=1, max_length=4_000)
    datetype: DateType = "edat"
    knowledge_base: str = Field(min_length=1, max_length=100)
    until: dt.date | None = None  # default: today (UTC)

    def saved_query(self) -> SavedQuery:
        return SavedQuery(name=self.query, term=self.term, datetype=self.datetype)


def _knowledge_of(job: JobContext) -> DocumentWriter:
    knowledge = getattr(job.app_context, "knowledge", None)
    if knowledge is None:
        raise FailJob("this job needs the app context's knowledge service")
    return knowledge  # type: ignore[no-any-return]


def make_sync_job(cursors_for: Callable[[JobContext], CursorStore], *,
                  client_factory: Callable[[], PubMedClient] = lambda: PubMedClient(load_settings()),
                  writer_for: Callable[[JobContext], DocumentWriter] = _knowledge_of,
                  ) -> Callable[[JobContext], dict[str, Any]]:
    """A job handler that syncs the payload's saved query into the payload's knowledge base."""

    def run_sync(job: JobContext) -> dict[str, Any]:
        try:
            payload = SyncJobPayload.model_validate(job.payload)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise FailJob(f"invalid pubmed_sync payload: {problems}") from exc
        sink = KnowledgeBaseSink(writer_for(job), job.tenant_id, payload.knowledge_base)

        def progress(done: int, total: int) -> None:
            if job.is_stopping:  # the window in flight is dropped whole; the cursor stays before it
                raise ReleaseJob("the worker is stopping")
            job.progress(done, total)

        with client_factory() as client:
            try:
                report = sync_query(client, payload.saved_query(), sink, cursors_for(job),
                                    until=payload.until, progress=progress)
            except (QueryTooLarge, PubMedQueryError) as exc:  # no retry would fix the query
                raise FailJob(str(exc)) from exc
        return report.to_dict()

    return run_sync


class JobEnqueuer(Protocol):
    """What ``enqueue_due_syncs`` needs of ``moesaic.jobs.JobQueue``."""

    def enqueue(self, tenant_id: str, app: str, kind: str, payload: dict[str, Any] | None = None, *,
                dedupe_key: str | None = None) -> JobInfo: ...


def enqueue_due_syncs(jobs: JobEnqueuer, tenant_id: str, app: str, payloads: Iterable[SyncJobPayload], *,
                      every: dt.timedelta, now: dt.datetime | None = None, kind: str = SYNC_JOB) -> list[JobInfo]:
    """One sync job per saved query for the current ``every``-long slot; calling it again within
    the slot returns the jobs already asked for instead of adding new ones."""
    slot = schedule_slot(now or dt.datetime.now(dt.timezone.utc), every)
    return [jobs.enqueue(tenant_id, app, kind, payload.model_dump(mode="json", exclude_none=True),
                         dedupe_key=f"{kind}:{payload.query}:{slot}") for payload in payloads]
