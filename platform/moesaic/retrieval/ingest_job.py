"""The ``platform.ingest`` job: one job per version of one document, run in batches.

The payload names the document and its version. A delivery takes every document of its batch,
runs the pipeline (``Ingestor.process_many``) and turns each document's outcome into its job's:
indexed -> succeeded, a parse error or exhausted retries -> failed, a transient error -> retried by
the queue with the document's backoff, shutdown -> handed back. A job whose version was replaced or
deleted before it ran succeeds with nothing to do. Effects are idempotent by construction: vectors
are upserted under ``<document>-<version>-<seq>`` ids and the chunk rows are swapped in one
transaction guarded by the delivery's lease, so a second delivery rewrites the same state.

This module does not parse or embed (``ingest``) or accept uploads (``service``).
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from sqlalchemy import select, update

from moesaic.db import Database, utcnow
from moesaic.jobs import CORE_APP, FailJob, JobContext, JobInfo, JobQueue, ReleaseJob, RetryJob
from moesaic.jobs.context import LeaseLost
from moesaic.retrieval.ingest import Ingestor
from moesaic.retrieval.tables import IN_PROGRESS_STATES, DocumentRecord, KnowledgeBaseRecord

APP, KIND = CORE_APP, "ingest"
NAME = f"{APP}.{KIND}"


def payload(document_id: str, version: int, knowledge_base: str) -> dict[str, Any]:
    return {"document_id": document_id, "version": version, "knowledge_base": knowledge_base}


def dedupe_key(document_id: str, version: int) -> str:
    return f"{document_id}:{version}"


class IngestJobs:
    """Registers the handler on a queue and enqueues documents."""

    def __init__(self, db: Database, ingestor: Ingestor, queue: JobQueue) -> None:
        self.db = db
        self.ingestor = ingestor
        self.queue = queue
        config = ingestor.config
        # one attempt more than the document allows: its own "gave up" check fails it first
        queue.register_batch(NAME, self.run, batch_size=config.batch_documents,
                             max_attempts=config.max_attempts + 1, backoff_seconds=config.backoff_seconds,
                             on_cancel=self.cancelled, fair=True)

    def run(self, contexts: list[JobContext]) -> list[Any]:
        taken = self.ingestor.take_many(
            [(ctx.payload["document_id"], int(ctx.payload["version"]), ctx.lease_owner) for ctx in contexts]
        )
        first = contexts[0]
        outcomes = self.ingestor.process_many(taken, should_stop=lambda: first.is_stopping) if taken else {}
        return [self._outcome(ctx, outcomes.get(ctx.payload["document_id"])) for ctx in contexts]

    def _outcome(self, ctx: JobContext, outcome: str | None) -> Any:
        document_id, version = ctx.payload["document_id"], int(ctx.payload["version"])
        with self.db.session() as session:
            doc = session.get(DocumentRecord, document_id)
            if doc is None:
                return {"document_id": document_id, "status": "deleted"}
            status, error, num_chunks = doc.status, doc.error, doc.num_chunks
            next_at, current = doc.next_attempt_at, doc.version
        if current != version:
            return {"document_id": document_id, "status": "superseded", "version": version}
        if outcome == "indexed" or (outcome is None and status == "indexed"):
            return {"document_id": document_id, "status": "indexed", "version": version, "num_chunks": num_chunks}
        if outcome == "failed" or (outcome is None and status == "failed"):
            return FailJob(error or "ingestion failed")
        if outcome == "retry":
            due = next_at if next_at.tzinfo else next_at.replace(tzinfo=timezone.utc)
            return RetryJob(error or "retrying", delay_seconds=max(0.0, (due - utcnow()).total_seconds()))
        if outcome == "released":
            return ReleaseJob(document_id)
        return LeaseLost(ctx.job_id)  # taken over or cancelled while it ran

    def enqueue_in(self, session: Any, tenant_id: str, doc: DocumentRecord, knowledge_base: str) -> JobInfo:
        """Record the job for this version of ``doc`` in the upload's own transaction."""
        return self.queue.enqueue(tenant_id, APP, KIND, payload(doc.id, doc.version, knowledge_base),
                                  dedupe_key=dedupe_key(doc.id, doc.version), session=session)

    def cancelled(self, info: JobInfo) -> None:
        """A cancelled ingest job leaves its document failed (with a reason), not queued forever."""
        with self.db.session() as session:
            session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id == info.payload.get("document_id"),
                    DocumentRecord.version == int(info.payload.get("version", -1)),
                    DocumentRecord.status.in_(("queued", *IN_PROGRESS_STATES)),
                )
                .values(status="failed", error="ingestion was cancelled", lease_owner=None,
                        lease_expires_at=None, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    def requeue_orphans(self) -> int:
        """Give a job to every unfinished document that has none (e.g. queued before jobs existed)."""
        with self.db.session() as session:
            rows = session.execute(
                select(DocumentRecord, KnowledgeBaseRecord.name)
                .join(KnowledgeBaseRecord, KnowledgeBaseRecord.id == DocumentRecord.knowledge_base_id)
                .where(DocumentRecord.status.in_(("queued", *IN_PROGRESS_STATES)))
            ).all()
            found = [(doc.tenant_id, doc.id, doc.version, kb) for doc, kb in rows]
        for tenant_id, document_id, version, kb in found:
            self.queue.enqueue(tenant_id, APP, KIND, payload(document_id, version, kb),
                               dedupe_key=dedupe_key(document_id, version))
        return len(found)
