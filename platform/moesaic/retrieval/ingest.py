"""The ingestion job: claim a queued document, parse, chunk, embed, and swap its chunks in.

A document row is its own job. Workers claim it with a conditional UPDATE that takes a lease; every
stage renews the lease, so a worker that dies leaves a job whose lease runs out and another worker
(or the same process after a restart) claims it again and starts over from the stored upload.
Vectors are written to Chroma under version-tagged ids while the job runs, but nothing is visible
to search until the final transaction replaces the document's chunk rows (and, through the
database, its keyword index entries) and flips it to ``indexed``; old and orphaned vectors are then
removed. Parse errors fail at once; other errors are retried with exponential backoff.

This module does not decide what to search (``search``) or validate uploads (``service``).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, update

from moesaic.db import Database, new_id, utcnow
from moesaic.retrieval.chunking import ChunkingConfig, chunk_text
from moesaic.retrieval.embeddings import Embedder
from moesaic.retrieval.readers import ParseError, extract_text
from moesaic.retrieval.tables import (
    IN_PROGRESS_STATES,
    ChunkRecord,
    DocumentBlobRecord,
    DocumentRecord,
    KnowledgeBaseRecord,
)
from moesaic.retrieval.vector_store import ChromaVectorStore

log = logging.getLogger(__name__)
EMBED_BATCH = 64


@dataclass(frozen=True)
class IngestConfig:
    num_workers: int = 2
    max_attempts: int = 3
    lease_seconds: float = 60.0
    backoff_seconds: float = 2.0  # retry n waits backoff * 2**(n-1)
    poll_seconds: float = 0.5


class LostLease(Exception):
    """The job was taken over, edited or deleted while this worker ran it; drop the work."""


class Ingestor:
    """Runs ingestion jobs; ``start()`` runs them on background threads."""

    def __init__(
        self,
        db: Database,
        vector_store: ChromaVectorStore,
        embedder: Callable[[], Embedder],
        config: IngestConfig = IngestConfig(),
    ) -> None:
        self.db = db
        self.vector_store = vector_store
        self._embedder = embedder
        self.config = config
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- background workers -------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.config.num_workers):
            thread = threading.Thread(target=self._loop, name=f"moesaic-ingest-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        owner = f"{threading.current_thread().name}-{new_id()[:8]}"
        while not self._stop.is_set():
            try:
                document_id = self.claim(owner)
            except Exception:  # database briefly unavailable: keep the worker alive
                log.exception("claiming an ingestion job failed")
                document_id = None
            if document_id is None:
                self._wake.wait(self.config.poll_seconds)
                self._wake.clear()
                continue
            self.process(document_id, owner)

    # -- one job ------------------------------------------------------------------------------
    def claim(self, owner: str) -> str | None:
        """Take the lease on the next runnable job (queued and due, or abandoned); None if none."""
        now = utcnow()
        runnable = or_(
            and_(DocumentRecord.status == "queued", DocumentRecord.next_attempt_at <= now),
            and_(DocumentRecord.status.in_(IN_PROGRESS_STATES), DocumentRecord.lease_expires_at < now),
        )
        with self.db.session() as session:
            candidates = session.scalars(
                select(DocumentRecord.id).where(runnable).order_by(DocumentRecord.next_attempt_at).limit(8)
            ).all()
            for document_id in candidates:
                result = session.execute(
                    update(DocumentRecord)
                    .where(DocumentRecord.id == document_id, runnable)
                    .values(
                        status="parsing",
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=self.config.lease_seconds),
                        attempts=DocumentRecord.attempts + 1,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    return document_id
        return None

    def process(self, document_id: str, owner: str) -> None:
        """Run a claimed job to ``indexed``, a retry or ``failed``; never raises."""
        with self.db.session() as session:
            doc = session.get(DocumentRecord, document_id)
            if doc is None or doc.lease_owner != owner:
                return
            version, kb_id, attempts = doc.version, doc.knowledge_base_id, doc.attempts
            filename, title, tenant_id = doc.filename, doc.title, doc.tenant_id
            blob = session.get(DocumentBlobRecord, document_id)
            data = blob.data if blob is not None else b""
            kb = session.get(KnowledgeBaseRecord, kb_id)
            kb_config = dict(kb.config or {}) if kb is not None else {}
        try:
            if attempts > self.config.max_attempts:
                raise ParseError(f"gave up after {attempts - 1} attempts (the worker stopped each time)")
            extracted = extract_text(filename, data)
            self._advance(document_id, owner, version, "chunking")
            chunking = ChunkingConfig(
                chunk_size=int(kb_config.get("chunk_size", ChunkingConfig.chunk_size)),
                chunk_overlap=int(kb_config.get("chunk_overlap", ChunkingConfig.chunk_overlap)),
            )
            pieces = chunk_text(extracted.text, chunking)
            doc_title = title or extracted.title or filename
            self._advance(document_id, owner, version, "embedding", title=doc_title)
            embedder = self._embedder()
            rows: list[ChunkRecord] = []
            for batch_start in range(0, len(pieces), EMBED_BATCH):
                batch = pieces[batch_start : batch_start + EMBED_BATCH]
                titles = [" > ".join((doc_title, *piece.section)) for piece in batch]
                vectors = embedder.embed_documents([f"{t}\n{p.text}" for t, p in zip(titles, batch)])
                ids = [f"{document_id}-{version}-{piece.seq}" for piece in batch]
                self.vector_store.upsert(
                    kb_id,
                    ids,
                    vectors,
                    [{"document_id": document_id, "version": version, "tenant_id": tenant_id}] * len(ids),
                )
                rows.extend(
                    ChunkRecord(
                        chunk_id=chunk_id,
                        tenant_id=tenant_id,
                        knowledge_base_id=kb_id,
                        document_id=document_id,
                        seq=piece.seq,
                        title=chunk_title,
                        text=piece.text,
                        start_char=piece.start_char,
                        end_char=piece.end_char,
                    )
                    for chunk_id, chunk_title, piece in zip(ids, titles, batch)
                )
                self._advance(document_id, owner, version, "embedding")  # heartbeat
            self._swap(document_id, owner, version, rows, extracted.text)
            self.vector_store.delete_document(kb_id, document_id, keep_version=version)
        except LostLease:
            self._cleanup_if_deleted(kb_id, document_id)
        except Exception as exc:  # the job's outcome is recorded; the worker keeps going
            self._record_failure(document_id, owner, version, attempts, exc)

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

    def _swap(self, document_id: str, owner: str, version: int, rows: list[ChunkRecord], text: str) -> None:
        """One transaction: the document flips to indexed and its chunk rows are replaced."""
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

    def _record_failure(self, document_id: str, owner: str, version: int, attempts: int, exc: Exception) -> None:
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

    def _cleanup_if_deleted(self, kb_id: str, document_id: str) -> None:
        with self.db.session() as session:
            exists = session.get(DocumentRecord, document_id) is not None
        if not exists:
            try:
                self.vector_store.delete_document(kb_id, document_id)
            except Exception:  # the collection went with its knowledge base
                pass


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
