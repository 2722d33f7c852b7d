"""The ingestion pipeline for one batch of documents: parse, chunk, embed, and swap chunks in.

Each document version is one ``platform.ingest`` job (see ``ingest_job``); the job queue decides when
and where it runs and re-delivers it when its worker dies. Here a delivery ``take``s the document
(its lease owner is the delivery's), and every stage renews the document's lease only while that
owner still holds it, so a superseded delivery can write nothing. Vectors are written to Chroma
under version-tagged ids while the job runs, but nothing is visible to search until the final
transaction replaces the document's chunk rows (and, through the database, its keyword index
entries) and flips it to ``indexed``; old and orphaned vectors are then removed. Parse errors fail
at once; other errors are retried with exponential backoff.

This module does not decide what to search (``search``), validate uploads (``service``) or run
threads (the job queue's consumer does).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from moesaic.db import Database, utcnow
from moesaic.retrieval.chunking import ChunkingConfig, TextChunk, chunk_text
from moesaic.retrieval.embeddings import DEFAULT_EMBEDDER, Embedder
from moesaic.retrieval.readers import ParseError, ReadLimits, extract_text
from moesaic.retrieval.tables import (
    IN_PROGRESS_STATES,
    ChunkRecord,
    DocumentBlobRecord,
    DocumentRecord,
    KnowledgeBaseRecord,
)
from moesaic.retrieval.vector_store import ChromaVectorStore

R = TypeVar("R", bound=tuple[Any, ...])  # a row whose first item is its document's _Job
T = TypeVar("T")

log = logging.getLogger(__name__)
EMBED_BATCH = 64
STOPPED_WHILE = "the worker running it stopped while "


@dataclass(frozen=True)
class IngestConfig:
    """Ingestion settings; when a ``KnowledgeService`` builds its own job queue, ``num_workers``,
    ``lease_seconds`` and ``poll_seconds`` configure that queue's consumer too."""

    num_workers: int = 2
    max_attempts: int = 3
    lease_seconds: float = 60.0
    backoff_seconds: float = 2.0  # retry n waits backoff * 2**(n-1)
    poll_seconds: float = 0.5
    batch_documents: int = 16  # documents claimed together so their chunks embed in full batches
    read_limits: ReadLimits = ReadLimits()  # per document; a batch also stops parsing after parse_seconds


class LostLease(Exception):
    """The job was taken over, edited or deleted while this worker ran it; drop the work."""


class Ingestor:
    """Runs one batch of ingestion jobs: ``take`` each document, then ``process_many``.

    The job queue (``ingest_job``) decides when a document runs and on which worker; this class
    only moves the document's own state machine and writes its chunks."""

    def __init__(
        self,
        db: Database,
        vector_store: ChromaVectorStore,
        embedder: Callable[[str], Embedder],  # embedder name -> the embedder
        config: IngestConfig = IngestConfig(),
    ) -> None:
        self.db = db
        self.vector_store = vector_store
        self._embedder = embedder
        self.config = config

    # -- one job ------------------------------------------------------------------------------
    def take_many(self, wanted: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
        """Hold each (document id, version) for its job delivery (owner), all in one transaction; gives the
        (id, owner) pairs held. A version that is gone (deleted, replaced by newer content) or already
        finished is not held.

        An earlier delivery of the same job may still hold it (its worker died): the queue gives a
        job to one delivery at a time, so taking it over is safe, and the old delivery's writes
        fail on the owner check."""
        now = utcnow()
        held: list[tuple[str, str]] = []
        with self.db.session() as session:
            before = {
                doc.id: doc.status
                for doc in session.scalars(
                    select(DocumentRecord).where(DocumentRecord.id.in_([document_id for document_id, _, _ in wanted]))
                )
            }
            for document_id, version, owner in wanted:
                if self._take_in(session, document_id, version, owner, before.get(document_id), now):
                    held.append((document_id, owner))
        return held

    def _take_in(
        self, session: Session, document_id: str, version: int, owner: str, status: str | None, now: datetime
    ) -> bool:
        stage = status if status in IN_PROGRESS_STATES else None
        result = session.execute(
            update(DocumentRecord)
            .where(
                DocumentRecord.id == document_id,
                DocumentRecord.version == version,
                DocumentRecord.status.in_(("queued", *IN_PROGRESS_STATES)),
            )
            .values(
                # a delivery that died mid-way left its stage: the cause if this document keeps killing workers
                error=f"{STOPPED_WHILE}{stage}" if stage else DocumentRecord.error,
                status="parsing",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=self.config.lease_seconds),
                attempts=DocumentRecord.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def process_many(
        self, taken: list[tuple[str, str]], should_stop: Callable[[], bool] = lambda: False
    ) -> dict[str, str]:
        """Run taken documents (id, owner) to an outcome; never raises. Outcome per document:
        ``indexed``, ``retry`` (queued again with backoff), ``failed``, ``released`` (handed back
        at shutdown, attempt not counted) or ``lost`` (deleted, edited or taken over meanwhile).

        Chunks of all the documents are embedded together, in batches of ``EMBED_BATCH`` of similar
        length (less padding): many small documents embed several times faster that way than one by
        one. Each batch's vectors go to Chroma in one call per knowledge base (a failing call is
        retried per document, so only the failing document fails), and one statement renews the
        leases of every document still running; a document whose lease is gone stops there."""
        outcomes: dict[str, str] = {}
        jobs: list[_Job] = []
        started = time.monotonic()
        for index, (document_id, owner) in enumerate(taken):
            if index and time.monotonic() - started > self.config.read_limits.parse_seconds:
                # a slow batch hands its unread documents back, so the queue can run other tenants' first
                self._release(taken[index:], outcomes)
                break
            job = self._prepare(document_id, owner, outcomes)
            if job is not None:
                jobs.append(job)
        pending = [(job, piece) for job in jobs for piece in job.pieces]
        pending.sort(key=lambda item: len(item[0].embedding_text(item[1])))  # stable: document order within a length
        for batch_start in range(0, len(pending), EMBED_BATCH):
            if should_stop():  # shutting down: hand the rest back instead of waiting for leases
                alive = [job for job in jobs if job.alive]
                for job in alive:
                    job.alive = False
                self._release([(job.document_id, job.owner) for job in alive], outcomes)
                return outcomes
            batch = [(job, piece) for job, piece in pending[batch_start : batch_start + EMBED_BATCH] if job.alive]
            if not batch:
                continue
            batch, vectors = self._embed(batch, outcomes)
            if batch:
                self._store_vectors(batch, vectors, outcomes)
            self._heartbeat([job for job in jobs if job.alive], outcomes)
        for job in jobs:
            if not job.alive:
                continue
            try:
                self._swap(job)
                outcomes[job.document_id] = "indexed"
                if job.version > 1:  # version 1 has no other version's vectors to remove
                    self.vector_store.delete_document(job.kb_id, job.document_id, keep_version=job.version)
            except LostLease:
                outcomes[job.document_id] = "lost"
                self._cleanup_if_deleted(job.kb_id, job.document_id)
            except Exception as exc:
                if outcomes.get(job.document_id) == "indexed":  # swapped; only the old vectors stay behind
                    log.warning("removing old vectors of %s failed: %s", job.document_id, exc)
                else:
                    self._fail(job, exc, outcomes)
        return outcomes

    def _embed(
        self, batch: list[tuple["_Job", TextChunk]], outcomes: dict[str, str]
    ) -> tuple[list[tuple["_Job", TextChunk]], np.ndarray]:
        """The batch's vectors; if the batch fails, each document is embedded alone and only those that
        fail again fail (with their own cause). Gives the rows embedded and their vectors."""
        done = self._together_or_alone(batch, lambda rows: embed_batch(self._embedder, rows), outcomes)
        if not done:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [row for rows, _ in done for row in rows], np.concatenate([vectors for _, vectors in done])

    def _store_vectors(
        self, batch: list[tuple["_Job", TextChunk]], vectors: np.ndarray, outcomes: dict[str, str]
    ) -> None:
        """Upsert a batch's vectors, one Chroma call per knowledge base; if that call fails, each of its
        documents is tried alone so the failure lands on the document(s) that cause it."""
        by_kb: dict[str, list[tuple[_Job, TextChunk, np.ndarray]]] = {}
        for (job, piece), vector in zip(batch, vectors):
            by_kb.setdefault(job.kb_id, []).append((job, piece, vector))
        for kb_id, rows in by_kb.items():
            self._together_or_alone(
                rows, lambda mine: self._upsert(kb_id, [(j, p) for j, p, _ in mine], np.stack([v for _, _, v in mine])),
                outcomes)

    def _together_or_alone(self, rows: list[R], work: Callable[[list[R]], T], outcomes: dict[str, str]) -> list[tuple[list[R], T]]:
        """``work`` on all ``rows`` (each row's first item is its ``_Job``) at once; if that fails, on each job's
        rows alone, so a failure lands on the document that causes it (with its own cause). Gives each part done
        with its result; a job that fails is failed here."""
        try:
            return [(rows, work(rows))]
        except Exception as exc:
            jobs = list({id(row[0]): row[0] for row in rows}.values())
            if len(jobs) == 1:
                self._fail(jobs[0], exc, outcomes)
                return []
        done: list[tuple[list[R], T]] = []
        for job in jobs:
            mine = [row for row in rows if row[0] is job]
            try:
                done.append((mine, work(mine)))
            except Exception as exc:
                self._fail(job, exc, outcomes)
        return done

    def _upsert(self, kb_id: str, rows: list[tuple["_Job", TextChunk]], vectors: np.ndarray) -> None:
        self.vector_store.upsert(
            kb_id, [job.chunk_id(piece) for job, piece in rows], vectors, [job.vector_metadata for job, _ in rows]
        )

    def _heartbeat(self, jobs: list["_Job"], outcomes: dict[str, str]) -> None:
        """Renew the leases of the running ``jobs`` in one transaction; a job whose document was
        deleted, edited or taken over meanwhile is dropped as ``lost``."""
        if not jobs:
            return
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id.in_([job.document_id for job in jobs]),
                    DocumentRecord.lease_owner.in_([job.owner for job in jobs]),
                )
                .values(lease_expires_at=now + timedelta(seconds=self.config.lease_seconds), updated_at=now)
                .execution_options(synchronize_session=False)
            )
            held = set(
                session.execute(
                    select(DocumentRecord.id, DocumentRecord.lease_owner, DocumentRecord.version).where(
                        DocumentRecord.id.in_([job.document_id for job in jobs])
                    )
                ).tuples()
            )
        for job in jobs:
            if (job.document_id, job.owner, job.version) not in held:
                job.alive = False
                outcomes[job.document_id] = "lost"
                self._cleanup_if_deleted(job.kb_id, job.document_id)

    def _prepare(self, document_id: str, owner: str, outcomes: dict[str, str]) -> "_Job | None":
        """Parse and chunk one taken document; a failure is recorded and gives None."""
        with self.db.session() as session:
            doc = session.get(DocumentRecord, document_id)
            if doc is None or doc.lease_owner != owner:
                outcomes[document_id] = "lost"
                return None
            blob = session.get(DocumentBlobRecord, document_id)
            kb = session.get(KnowledgeBaseRecord, doc.knowledge_base_id)
            job = _Job(
                document_id=document_id,
                owner=owner,
                version=doc.version,
                kb_id=doc.knowledge_base_id,
                tenant_id=doc.tenant_id,
                attempts=doc.attempts,
                title=doc.title or doc.filename,
            )
            filename, data, last_error = doc.filename, (blob.data if blob is not None else b""), doc.error
            kb_config = dict(kb.config or {}) if kb is not None else {}
            job.embedder = str(kb_config.get("embedder") or DEFAULT_EMBEDDER)
        try:
            if job.attempts > self.config.max_attempts:
                stage = (last_error or "").removeprefix(STOPPED_WHILE) if (last_error or "").startswith(STOPPED_WHILE) else ""
                raise ParseError(
                    f"gave up on {filename!r} after {job.attempts - 1} attempts: each time the worker running it stopped "
                    f"(killed, out of memory or restarted){' while ' + stage if stage else ''} before it finished; "
                    "the document may be too large or complex: split it, or check the worker's log")
            extracted = extract_text(filename, data, self.config.read_limits)
            chunking = ChunkingConfig(
                chunk_size=int(kb_config.get("chunk_size", ChunkingConfig.chunk_size)),
                chunk_overlap=int(kb_config.get("chunk_overlap", ChunkingConfig.chunk_overlap)),
            )
            job.text = extracted.text
            job.pieces = chunk_text(extracted.text, chunking)
            if extracted.title and job.title == filename:
                job.title = extracted.title
            self._advance(document_id, owner, job.version, "embedding", title=job.title)
            return job
        except LostLease:
            outcomes[document_id] = "lost"
            self._cleanup_if_deleted(job.kb_id, document_id)
        except Exception as exc:
            self._fail(job, exc, outcomes)
        return None

    def _fail(self, job: "_Job", exc: Exception, outcomes: dict[str, str]) -> None:
        job.alive = False
        outcomes[job.document_id] = self._record_failure(job.document_id, job.owner, job.version, job.attempts, exc)

    def _advance(self, document_id: str, owner: str, version: int, status: str, **values: object) -> None:
        """Move to ``status`` and renew the lease, only if this worker still owns this version."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id == document_id,
                    DocumentRecord.lease_owner == owner,
                    DocumentRecord.version == version,
                )
                .values(
                    status=status,
                    lease_expires_at=now + timedelta(seconds=self.config.lease_seconds),
                    updated_at=now,
                    **values,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LostLease(document_id)

    def _release(self, taken: list[tuple[str, str]], outcomes: dict[str, str]) -> None:
        """Put unfinished documents (id, owner) back in the queue at once (not a failed attempt)."""
        for document_id, _owner in taken:
            outcomes[document_id] = "released"
        if not taken:
            return
        with self.db.session() as session:
            session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id.in_([document_id for document_id, _ in taken]),
                    DocumentRecord.lease_owner.in_([owner for _, owner in taken]),
                )
                .values(
                    status="queued",
                    attempts=DocumentRecord.attempts - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )

    def _swap(self, job: "_Job") -> None:
        """One transaction: the document flips to indexed and its chunk rows are replaced."""
        document_id, owner, version, text = job.document_id, job.owner, job.version, job.text
        rows = [
            ChunkRecord(
                chunk_id=job.chunk_id(piece),
                tenant_id=job.tenant_id,
                knowledge_base_id=job.kb_id,
                document_id=document_id,
                seq=piece.seq,
                title=job.section_title(piece),
                text=piece.text,
                start_char=piece.start_char,
                end_char=piece.end_char,
            )
            for piece in job.pieces
        ]
        with self.db.session() as session:
            result = session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id == document_id,
                    DocumentRecord.lease_owner == owner,
                    DocumentRecord.version == version,
                )
                .values(
                    status="indexed",
                    indexed_version=version,
                    num_chunks=len(rows),
                    text=text,
                    error=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LostLease(document_id)
            session.execute(delete(ChunkRecord).where(ChunkRecord.document_id == document_id))
            session.add_all(rows)

    def _record_failure(self, document_id: str, owner: str, version: int, attempts: int, exc: Exception) -> str:
        permanent = isinstance(exc, ParseError)
        message = str(exc) if permanent else f"{type(exc).__name__}: {exc}"
        if not permanent:
            log.warning("ingesting %s failed (attempt %d): %s", document_id, attempts, traceback.format_exc())
        retry = not permanent and attempts < self.config.max_attempts
        delay = self.config.backoff_seconds * 2 ** (attempts - 1)
        with self.db.session() as session:
            session.execute(
                update(DocumentRecord)
                .where(
                    DocumentRecord.id == document_id,
                    DocumentRecord.lease_owner == owner,
                    DocumentRecord.version == version,
                )
                .values(
                    status="queued" if retry else "failed",
                    error=message[:2000],
                    next_attempt_at=utcnow() + timedelta(seconds=delay if retry else 0),
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
        return "retry" if retry else "failed"

    def _cleanup_if_deleted(self, kb_id: str, document_id: str) -> None:
        with self.db.session() as session:
            exists = session.get(DocumentRecord, document_id) is not None
        if not exists:
            try:
                self.vector_store.delete_document(kb_id, document_id)
            except Exception:  # the collection went with its knowledge base
                pass


def embed_batch(embedder: Callable[[str], Embedder], batch: list[tuple["_Job", TextChunk]]) -> np.ndarray:
    """Vectors for a batch of chunks, each embedded by its knowledge base's embedder, in batch order."""
    names = sorted({job.embedder for job, _ in batch})
    if len(names) == 1:
        return embedder(names[0]).embed_documents([job.embedding_text(piece) for job, piece in batch])
    rows: list[np.ndarray | None] = [None] * len(batch)
    for name in names:
        positions = [k for k, (job, _) in enumerate(batch) if job.embedder == name]
        vectors = embedder(name).embed_documents([batch[k][0].embedding_text(batch[k][1]) for k in positions])
        for k, vector in zip(positions, vectors):
            rows[k] = vector
    return np.stack(rows)  # type: ignore[arg-type]


@dataclass
class _Job:
    """One claimed document on its way through the pipeline."""

    document_id: str
    owner: str
    version: int
    kb_id: str
    tenant_id: str
    attempts: int
    title: str
    text: str = ""
    pieces: list[TextChunk] = field(default_factory=list)
    alive: bool = True
    embedder: str = DEFAULT_EMBEDDER  # the knowledge base's embedder

    def chunk_id(self, piece: TextChunk) -> str:
        return f"{self.document_id}-{self.version}-{piece.seq}"

    def section_title(self, piece: TextChunk) -> str:
        return " > ".join((self.title, *piece.section))

    def embedding_text(self, piece: TextChunk) -> str:
        return f"{self.section_title(piece)}\n{piece.text}"

    @property
    def vector_metadata(self) -> dict[str, object]:
        return {"document_id": self.document_id, "version": self.version, "tenant_id": self.tenant_id}
