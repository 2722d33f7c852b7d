"""``KnowledgeService``: the retrieval API the platform uses (uploads, status, search, deletion).

It validates input, owns tenancy (every query filters on the tenant) and composes the parts:
``ingest`` (run as ``platform.ingest`` jobs on the job queue), ``keyword`` and ``vector_store`` (the two indexes), ``fusion`` and
``rerank``. It does not speak HTTP or draw progress bars (the API and ``commands`` do).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import replace
from pathlib import PurePath
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moesaic.config import Settings
from moesaic.db import Database, utcnow
from moesaic.errors import ConfigError, Conflict, NotFound, UserError
from moesaic.retrieval.embeddings import DEFAULT_EMBEDDER, Embedder, default_embedder
from moesaic.jobs import JobConfig, JobQueue
from moesaic.retrieval.ingest import IngestConfig, Ingestor
from moesaic.retrieval.ingest_job import IngestJobs
from moesaic.retrieval.models import (
    aware,
    DocumentInfo,
    DocumentMetadata,
    KnowledgeBaseConfig,
)
from moesaic.retrieval.readers import SUPPORTED_EXTENSIONS, ReadLimits, is_supported
from moesaic.retrieval.sniff import reader_for
from moesaic.retrieval.rerank import Reranker
from moesaic.retrieval.search import Searcher
from moesaic.retrieval.upload_limits import check_size
from moesaic.retrieval.tables import (
    DOCUMENT_STATES,
    ChunkRecord,
    DocumentBlobRecord,
    DocumentRecord,
    KnowledgeBaseRecord,
)
from moesaic.retrieval.vector_store import ChromaVectorStore
from moesaic.types import Chunk

KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def error_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())


class KnowledgeService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        start_worker: bool = True,
        embedder: Embedder | None = None,
        vector_store: ChromaVectorStore | None = None,
        reranker: Reranker | None = None,
        ingest_config: IngestConfig = IngestConfig(),
        jobs: JobQueue | None = None,
    ) -> None:
        """``jobs``: the queue that runs ingestion (the platform's); without one the service builds
        its own from the settings, configured by ``ingest_config``. ``start_worker`` runs a consumer
        of that queue in this process."""
        self.db = db
        self.settings = settings
        self.upload_limits = settings.upload_limits  # MiB per upload type (moesaic.retrieval.upload_limits)
        self.vector_store = vector_store or ChromaVectorStore.from_settings(settings)
        self.reranker = reranker
        # registered retrievers: name -> factory; knowledge bases name theirs (MiniLM and fusion by default)
        self.embedders: dict[str, Callable[[], Embedder]] = {DEFAULT_EMBEDDER: (lambda: embedder) if embedder else default_embedder}
        self.rerankers: dict[str, Callable[[], Reranker]] = {}
        self._loaded: dict[str, Any] = {}
        self._embedder_lock = threading.Lock()
        ingest_config = replace(ingest_config, read_limits=ReadLimits.from_settings(settings))
        self.ingestor = Ingestor(db, self.vector_store, self.embedder, ingest_config)
        self.jobs = jobs or JobQueue.from_settings(
            db,
            settings,
            JobConfig(
                lease_seconds=ingest_config.lease_seconds,
                poll_seconds=ingest_config.poll_seconds,
                reap_seconds=min(5.0, ingest_config.lease_seconds),
            ),
        )
        self._concurrency = ingest_config.num_workers if jobs is None else settings.worker_concurrency
        self.ingest_jobs = IngestJobs(db, self.ingestor, self.jobs)
        self.searcher = Searcher(db, self.vector_store, self.embedder, reranker, self.reranker_named)
        if start_worker:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------
    def register_embedder(self, name: str, factory: Callable[[], Embedder]) -> None:
        """Make an embedder available to knowledge bases (``config.embedder``); loaded on first use."""
        self._register(self.embedders, "embedder", name, factory)

    def register_reranker(self, name: str, factory: Callable[[], Reranker]) -> None:
        """Make a reranker available to knowledge bases (``config.reranker``); loaded on first use."""
        self._register(self.rerankers, "reranker", name, factory)

    @staticmethod
    def _register(registry: dict[str, Any], kind: str, name: str, factory: Callable[[], Any]) -> None:
        if name in registry:
            raise ConfigError(f"{kind} {name!r} is registered twice")
        registry[name] = factory

    def _load(self, kind: str, registry: dict[str, Callable[[], Any]], name: str) -> Any:
        key = f"{kind}:{name}"
        with self._embedder_lock:
            if key not in self._loaded:
                if name not in registry:
                    raise UserError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(registry)) or 'none'}",
                                    field=kind)
                self._loaded[key] = registry[name]()
            return self._loaded[key]

    def embedder(self, name: str = DEFAULT_EMBEDDER) -> Embedder:
        """A registered embedding model, loaded on first use (``minilm``: the MiniLM default)."""
        return self._load("embedder", self.embedders, name)  # type: ignore[no-any-return]

    def reranker_named(self, name: str) -> Reranker:
        return self._load("reranker", self.rerankers, name)  # type: ignore[no-any-return]

    def start(self) -> None:
        """Run a consumer of the job queue in this process (ingestion and every other registered job)."""
        self.ingest_jobs.requeue_orphans()
        self.jobs.start(self._concurrency)

    def stop(self) -> None:
        self.jobs.stop()

    # -- knowledge bases ---------------------------------------------------------------------
    def _validate_kb_name(self, kb: str) -> None:
        if not isinstance(kb, str) or not KB_NAME.match(kb):
            raise UserError(
                f"invalid knowledge base name {kb!r}: use 1-100 letters, digits, '_', '-' or '.'",
                field="knowledge_base",
            )

    def _find_kb(self, session: Session, tenant_id: str, kb: str) -> KnowledgeBaseRecord | None:
        return session.scalars(
            select(KnowledgeBaseRecord).where(
                KnowledgeBaseRecord.tenant_id == tenant_id, KnowledgeBaseRecord.name == kb
            )
        ).first()

    def _get_kb(self, session: Session, tenant_id: str, kb: str) -> KnowledgeBaseRecord:
        self._validate_kb_name(kb)
        record = self._find_kb(session, tenant_id, kb)
        if record is None:
            raise NotFound(f"knowledge base {kb!r} not found", field="knowledge_base")
        return record

    def _ensure_kb(self, tenant_id: str, kb: str) -> str:
        self._validate_kb_name(kb)
        for _ in range(3):
            with self.db.session() as session:
                record = self._find_kb(session, tenant_id, kb)
                if record is not None:
                    return record.id
            try:
                with self.db.session() as session:
                    record = KnowledgeBaseRecord(tenant_id=tenant_id, name=kb, config={})
                    session.add(record)
                    session.flush()
                    return record.id
            except IntegrityError:  # created concurrently: read it back
                continue
        raise Conflict(f"knowledge base {kb!r} could not be created", field="knowledge_base")

    def configure_knowledge_base(self, tenant_id: str, kb: str, **config: Any) -> dict[str, Any]:
        """Set per-KB search weights, chunking, embedder and reranker; creates the KB if needed.

        A new embedder re-indexes the knowledge base: its vectors are dropped and every document is
        queued again as a new version (keyword search keeps working meanwhile). Returns the full config.
        """
        if config.get("embedder") is not None and config["embedder"] not in self.embedders:
            raise UserError(f"unknown embedder {config['embedder']!r}; registered: {', '.join(sorted(self.embedders))}",
                            field="embedder")
        if config.get("reranker") is not None and config["reranker"] not in self.rerankers:
            raise UserError(f"unknown reranker {config['reranker']!r}; registered: {', '.join(sorted(self.rerankers)) or 'none'}",
                            field="reranker")
        kb_id = self._ensure_kb(tenant_id, kb)
        with self.db.session() as session:
            record = session.get(KnowledgeBaseRecord, kb_id)
            assert record is not None, "knowledge base vanished"
            try:
                before = KnowledgeBaseConfig(**(record.config or {}))
                merged = KnowledgeBaseConfig(**{**before.model_dump(), **config})
            except ValidationError as exc:
                raise UserError(f"invalid knowledge base settings: {error_text(exc)}", field="config") from exc
            record.config = merged.model_dump()
            changed_embedder = merged.embedder != before.embedder
        if changed_embedder:
            self.reindex(tenant_id, kb)
        return merged.model_dump()

    def reindex(self, tenant_id: str, kb: str) -> list[str]:
        """Drop the knowledge base's vectors and queue every document again (as a new version, so each
        gets a fresh ingest job). Returns the ids of the ingest jobs."""
        job_ids = []
        with self.db.session() as session:
            record = self._get_kb(session, tenant_id, kb)
            kb_id = record.id
            docs = session.scalars(select(DocumentRecord).where(DocumentRecord.knowledge_base_id == kb_id)).all()
            for doc in docs:
                doc.version += 1
                doc.status, doc.error, doc.attempts = "queued", None, 0
                doc.next_attempt_at, doc.lease_owner, doc.lease_expires_at, doc.updated_at = utcnow(), None, None, utcnow()
                session.flush()
                job_ids.append(self.ingest_jobs.enqueue_in(session, tenant_id, doc, kb).id)
            self.vector_store.drop(kb_id)  # a new embedder may not even have the same dimension
        return job_ids

    def require_knowledge_base(self, tenant_id: str, kb: str) -> None:
        """Raise ``NotFound`` (naming ``knowledge_base`` and the tenant's knowledge bases) unless ``kb`` exists."""
        with self.db.session() as session:
            self._validate_kb_name(kb)
            if self._find_kb(session, tenant_id, kb) is not None:
                return
            names = session.scalars(
                select(KnowledgeBaseRecord.name).where(KnowledgeBaseRecord.tenant_id == tenant_id).order_by(KnowledgeBaseRecord.name)
            ).all()
        raise NotFound(f"knowledge base {kb!r} not found; knowledge bases: {', '.join(names) or 'none'}", field="knowledge_base")

    def list_knowledge_bases(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            kbs = session.scalars(
                select(KnowledgeBaseRecord)
                .where(KnowledgeBaseRecord.tenant_id == tenant_id)
                .order_by(KnowledgeBaseRecord.name)
            ).all()
            counts = session.execute(
                select(DocumentRecord.knowledge_base_id, DocumentRecord.status, func.count())
                .where(DocumentRecord.tenant_id == tenant_id)
                .group_by(DocumentRecord.knowledge_base_id, DocumentRecord.status)
            ).all()
        per_kb: dict[str, dict[str, int]] = {}
        for kb_id, status, n in counts:
            per_kb.setdefault(kb_id, dict.fromkeys(DOCUMENT_STATES, 0))[status] = int(n)
        out = []
        for record in kbs:
            states = per_kb.get(record.id, dict.fromkeys(DOCUMENT_STATES, 0))
            out.append(
                {
                    "id": record.id,
                    "name": record.name,
                    "num_documents": sum(states.values()),
                    "counts": states,
                    "config": KnowledgeBaseConfig(**(record.config or {})).model_dump(),
                    "created_at": aware(record.created_at).isoformat(),
                }
            )
        return out

    def delete_knowledge_base(self, tenant_id: str, kb: str) -> None:
        with self.db.session() as session:
            record = self._get_kb(session, tenant_id, kb)
            kb_id = record.id
            session.execute(delete(ChunkRecord).where(ChunkRecord.knowledge_base_id == kb_id))
            doc_ids = select(DocumentRecord.id).where(DocumentRecord.knowledge_base_id == kb_id)
            session.execute(delete(DocumentBlobRecord).where(DocumentBlobRecord.document_id.in_(doc_ids)))
            session.execute(delete(DocumentRecord).where(DocumentRecord.knowledge_base_id == kb_id))
            session.delete(record)
        self.vector_store.drop(kb_id)

    # -- documents ---------------------------------------------------------------------------
    def add_document(
        self, tenant_id: str, kb: str, filename: str, data: bytes, *, metadata: dict[str, Any] | None = None
    ) -> DocumentInfo:
        """Queue a file for indexing. The same bytes under the same name again are a no-op; new bytes
        under a known name replace that document's chunks once they are indexed."""
        self._validate_kb_name(kb)
        name = PurePath(str(filename or "").replace("\\", "/")).name.strip()
        if not name:
            raise UserError("the file has no name", field="file")
        if not is_supported(name):
            raise UserError(
                f"unsupported file type {PurePath(name).suffix or '(none)'!r} for {name!r}; "
                f"supported: {', '.join(SUPPORTED_EXTENSIONS)}",
                field="file",
            )
        if not data:
            raise UserError(f"{name!r} is empty", field="file")
        reader = reader_for(name, data)  # refuses binary whatever its name says (415 naming the file)
        check_size(name, reader, len(data), self.upload_limits)  # 413 naming the type and its limit
        try:
            meta = DocumentMetadata(**(metadata or {}))
        except ValidationError as exc:
            raise UserError(f"invalid metadata: {error_text(exc)}", field="metadata") from exc
        content_hash = hashlib.sha256(data).hexdigest()
        kb_id = self._ensure_kb(tenant_id, kb)
        fields = {
            "title": meta.title or "",
            "source": meta.source or name,
            "tags": list(meta.tags),
            "doc_date": meta.date.isoformat() if meta.date else None,
            "metadata_": meta.model_dump(mode="json", exclude_none=True),
        }
        for _ in range(3):
            try:
                with self.db.session() as session:
                    doc = session.scalars(
                        select(DocumentRecord).where(
                            DocumentRecord.knowledge_base_id == kb_id, DocumentRecord.filename == name
                        )
                    ).first()
                    if doc is not None and doc.content_hash == content_hash and doc.status != "failed":
                        return DocumentInfo.from_record(doc, kb)  # same file again: nothing to do
                    if doc is None:
                        doc = DocumentRecord(
                            tenant_id=tenant_id, knowledge_base_id=kb_id, filename=name, version=1, **fields
                        )
                        session.add(doc)
                    else:  # new content (or a retry of a failed one): a new version of the document
                        for key, value in fields.items():
                            setattr(doc, key, value)
                        doc.version = doc.version + 1
                    doc.content_hash = content_hash
                    doc.size_bytes = len(data)
                    doc.status = "queued"
                    doc.error = None
                    doc.attempts = 0
                    doc.next_attempt_at = utcnow()
                    doc.lease_owner = None
                    doc.lease_expires_at = None
                    doc.updated_at = utcnow()
                    session.flush()
                    session.merge(DocumentBlobRecord(document_id=doc.id, tenant_id=tenant_id, data=data))
                    job = self.ingest_jobs.enqueue_in(session, tenant_id, doc, kb)
                    info = replace(DocumentInfo.from_record(doc, kb), job_id=job.id)
                return info
            except IntegrityError:  # the same filename uploaded concurrently: go again
                continue
        raise Conflict(f"{name!r} is being uploaded concurrently; try again", field="file")

    def _get_document(self, session: Session, tenant_id: str, kb: str, document_id: str) -> DocumentRecord:
        record = self._get_kb(session, tenant_id, kb)
        doc = session.get(DocumentRecord, document_id)
        if doc is None or doc.tenant_id != tenant_id or doc.knowledge_base_id != record.id:
            raise NotFound(f"document {document_id!r} not found in {kb!r}", field="document_id")
        return doc

    def get_document(self, tenant_id: str, kb: str, document_id: str) -> DocumentInfo:
        with self.db.session() as session:
            return DocumentInfo.from_record(self._get_document(session, tenant_id, kb, document_id), kb)

    def list_documents(self, tenant_id: str, kb: str) -> tuple[list[DocumentInfo], dict[str, int]]:
        with self.db.session() as session:
            record = self._get_kb(session, tenant_id, kb)
            docs = session.scalars(
                select(DocumentRecord)
                .where(DocumentRecord.knowledge_base_id == record.id, DocumentRecord.tenant_id == tenant_id)
                .order_by(DocumentRecord.created_at, DocumentRecord.filename)
            ).all()
            infos = [DocumentInfo.from_record(doc, kb) for doc in docs]
        counts = dict.fromkeys(DOCUMENT_STATES, 0)
        for info in infos:
            counts[info.status] = counts.get(info.status, 0) + 1
        return infos, counts

    def document_text(self, tenant_id: str, kb: str, document_id: str) -> str:
        with self.db.session() as session:
            doc = self._get_document(session, tenant_id, kb, document_id)
            if doc.text is None:
                raise Conflict(f"document {document_id!r} is not indexed yet (status {doc.status})")
            return doc.text

    def delete_document(self, tenant_id: str, kb: str, document_id: str) -> None:
        """Remove the document from both indexes and the database."""
        with self.db.session() as session:
            doc = self._get_document(session, tenant_id, kb, document_id)
            kb_id = doc.knowledge_base_id
            session.execute(delete(ChunkRecord).where(ChunkRecord.document_id == document_id))
            session.execute(delete(DocumentBlobRecord).where(DocumentBlobRecord.document_id == document_id))
            session.delete(doc)
        self.vector_store.delete_document(kb_id, document_id)

    def wait(self, document_ids: list[str], timeout: float = 60.0) -> list[DocumentInfo]:
        """Block until every document is indexed or failed (or ``timeout``); returns their state."""
        deadline = time.monotonic() + timeout
        while True:
            infos = self._infos(document_ids)
            if all(info.is_done for info in infos) or time.monotonic() >= deadline:
                return infos
            time.sleep(0.1)

    def _infos(self, document_ids: list[str]) -> list[DocumentInfo]:
        with self.db.session() as session:
            rows = session.execute(
                select(DocumentRecord, KnowledgeBaseRecord.name)
                .join(KnowledgeBaseRecord, KnowledgeBaseRecord.id == DocumentRecord.knowledge_base_id)
                .where(DocumentRecord.id.in_(document_ids))
            ).all()
        by_id = {doc.id: DocumentInfo.from_record(doc, kb_name) for doc, kb_name in rows}
        missing = [i for i in document_ids if i not in by_id]
        if missing:
            raise NotFound(f"documents not found: {', '.join(missing)}", field="document_id")
        return [by_id[i] for i in document_ids]

    def queue_depth(self) -> int:
        """Documents waiting for or in ingestion, over all tenants (for metrics)."""
        with self.db.session() as session:
            return int(
                session.scalar(
                    select(func.count()).where(DocumentRecord.status.notin_(("indexed", "failed")))
                )
                or 0
            )

    # -- search ------------------------------------------------------------------------------
    def search(
        self,
        tenant_id: str,
        kb: str,
        query: str,
        *,
        top_k: int = 4,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
        mmr: float | None = None,
        rerank: bool = True,
        query_vector: np.ndarray | None = None,
    ) -> list[Chunk]:
        """The ``top_k`` best chunks for ``query``. ``mode``: hybrid (RRF of dense and keyword),
        dense or keyword. ``filters``: document_id, filename, source, tags, date_from, date_to.
        ``mmr`` (0..1, the relevance weight) diversifies; a configured reranker rescores.
        An unknown or empty knowledge base gives an empty list."""
        self._validate_kb_name(kb)
        return self.searcher.search(
            tenant_id, kb, query, top_k=top_k, mode=mode, filters=filters, mmr=mmr, rerank=rerank,
            query_vector=query_vector,
        )
