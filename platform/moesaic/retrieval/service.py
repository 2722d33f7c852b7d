"""``KnowledgeService``: the retrieval API the platform uses (uploads, status, search, deletion).

It validates input, owns tenancy (every query filters on the tenant) and composes the parts:
``ingest`` (background jobs), ``keyword`` and ``vector_store`` (the two indexes), ``fusion`` and
``rerank``. It does not speak HTTP or draw progress bars (the API and ``commands`` do).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import PurePath
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moesaic.config import Settings
from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound, UserError
from moesaic.retrieval.embeddings import Embedder, default_embedder
from moesaic.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion
from moesaic.retrieval.ingest import IngestConfig, Ingestor
from moesaic.retrieval.keyword import KeywordIndex
from moesaic.retrieval.models import (
    aware,
    SEARCH_MODES,
    DocumentInfo,
    DocumentMetadata,
    KnowledgeBaseConfig,
    SearchFilters,
)
from moesaic.retrieval.readers import SUPPORTED_EXTENSIONS, is_supported
from moesaic.retrieval.rerank import Reranker
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
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _error_text(exc: ValidationError) -> str:
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
    ) -> None:
        self.db = db
        self.settings = settings
        self.vector_store = vector_store or ChromaVectorStore.from_settings(settings)
        self.reranker = reranker
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self.ingestor = Ingestor(db, self.vector_store, self.embedder, ingest_config)
        if start_worker:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use (MiniLM unless one was passed in)."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = default_embedder()
            return self._embedder

    def start(self) -> None:
        self.ingestor.start()

    def stop(self) -> None:
        self.ingestor.stop()

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
        """Set per-KB search weights and chunking; creates the KB if needed. Returns the full config."""
        kb_id = self._ensure_kb(tenant_id, kb)
        with self.db.session() as session:
            record = session.get(KnowledgeBaseRecord, kb_id)
            assert record is not None, "knowledge base vanished"
            try:
                merged = KnowledgeBaseConfig(**{**(record.config or {}), **config})
            except ValidationError as exc:
                raise UserError(f"invalid knowledge base settings: {_error_text(exc)}", field="config") from exc
            record.config = merged.model_dump()
            return dict(record.config)

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
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserError(f"{name!r} is larger than {MAX_UPLOAD_BYTES // 2**20} MiB", field="file")
        try:
            meta = DocumentMetadata(**(metadata or {}))
        except ValidationError as exc:
            raise UserError(f"invalid metadata: {_error_text(exc)}", field="metadata") from exc
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
                    info = DocumentInfo.from_record(doc, kb)
                self.ingestor.notify()
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
        dense or keyword. ``mmr`` (0..1, the relevance weight) diversifies the results."""
        if mode not in SEARCH_MODES:
            raise UserError(f"unknown search mode {mode!r}; valid: {', '.join(SEARCH_MODES)}", field="mode")
        if not 1 <= top_k <= 1000:
            raise UserError(f"top_k must be between 1 and 1000, got {top_k}", field="top_k")
        if mmr is not None and not 0.0 <= mmr <= 1.0:
            raise UserError(f"mmr must be between 0 and 1, got {mmr}", field="mmr")
        try:
            parsed = SearchFilters(**(filters or {}))
        except ValidationError as exc:
            valid = ", ".join(SearchFilters.model_fields)
            raise UserError(f"invalid filters ({_error_text(exc)}); valid keys: {valid}", field="filters") from exc
        self._validate_kb_name(kb)
        if not query or not query.strip():
            return []
        with self.db.session() as session:
            record = self._find_kb(session, tenant_id, kb)
            if record is None:
                return []
            kb_id = record.id
            config = KnowledgeBaseConfig(**(record.config or {}))
            doc_ids = self._filter_documents(session, kb_id, tenant_id, parsed)
            n = max(config.num_candidates, top_k * 3)
            keyword_hits: list[tuple[str, float]] = []
            if mode in ("hybrid", "keyword"):
                index = KeywordIndex(
                    self.db.dialect, title_weight=config.title_weight, max_postings=config.keyword_max_postings
                )
                keyword_hits = index.search(session, kb_id, query, n, doc_ids)
        dense_hits: list[tuple[str, float]] = []
        vector = query_vector
        if mode in ("hybrid", "dense") or (mmr is not None and vector is None):
            vector = self.embedder().embed_query(query) if vector is None else vector
        if mode in ("hybrid", "dense"):
            assert vector is not None, "dense search needs a query vector"
            dense_hits = self.vector_store.query(kb_id, vector, n, doc_ids)
        if mode == "hybrid":
            ranked = reciprocal_rank_fusion(
                [[i for i, _ in dense_hits], [i for i, _ in keyword_hits]],
                [config.dense_weight, config.keyword_weight],
                k=config.rrf_k,
            )
        else:
            ranked = dense_hits if mode == "dense" else keyword_hits
        # load rows only for as many ranked ids as the answer needs (ids without a live row, e.g.
        # vectors of a document still being replaced, are skipped and the next page is read)
        need = top_k * 4 if (mmr is not None or (rerank and self.reranker is not None)) else top_k
        page_size = max(need + need // 2, 16)
        chunks: list[Chunk] = []
        for start in range(0, len(ranked), page_size):
            chunks += self._load_chunks(tenant_id, kb_id, ranked[start : start + page_size], dense_hits, keyword_hits)
            if len(chunks) >= need:
                break
        if mmr is not None and len(chunks) > top_k:
            pool = chunks[: top_k * 4]
            vectors = self.vector_store.get_vectors(kb_id, [c.chunk_id for c in pool])
            pool = [c for c in pool if c.chunk_id in vectors]
            assert vector is not None, "mmr needs the query vector"
            order = maximal_marginal_relevance(
                vector, np.stack([vectors[c.chunk_id] for c in pool]), [c.score for c in pool], top_k, mmr
            )
            chunks = [pool[i] for i in order]
        if rerank and self.reranker is not None and chunks:
            pool = chunks[: max(top_k * 3, 10)]
            scores = self.reranker.score(query, [c.text for c in pool])
            chunks = [c for _, c in sorted(zip(scores, pool), key=lambda pair: -pair[0])]
        return chunks[:top_k]

    def _filter_documents(
        self, session: Session, kb_id: str, tenant_id: str, filters: SearchFilters
    ) -> list[str] | None:
        """Ids of the documents the filters allow; None when there are no filters."""
        if not any(value is not None for value in filters.model_dump().values()):
            return None
        statement = select(
            DocumentRecord.id, DocumentRecord.tags, DocumentRecord.doc_date, DocumentRecord.created_at
        ).where(DocumentRecord.knowledge_base_id == kb_id, DocumentRecord.tenant_id == tenant_id)
        if filters.document_id is not None:
            statement = statement.where(DocumentRecord.id.in_(filters.document_id))
        if filters.filename is not None:
            statement = statement.where(DocumentRecord.filename.in_(filters.filename))
        if filters.source is not None:
            statement = statement.where(DocumentRecord.source.in_(filters.source))
        wanted_tags = set(filters.tags or [])
        out = []
        for doc_id, tags, doc_date, created_at in session.execute(statement):
            if wanted_tags and not wanted_tags.intersection(tags or []):
                continue
            day = doc_date or created_at.date().isoformat()
            if filters.date_from is not None and day < filters.date_from.isoformat():
                continue
            if filters.date_to is not None and day > filters.date_to.isoformat():
                continue
            out.append(doc_id)
        return out

    def _load_chunks(
        self,
        tenant_id: str,
        kb_id: str,
        ranked: list[tuple[str, float]],
        dense_hits: list[tuple[str, float]],
        keyword_hits: list[tuple[str, float]],
    ) -> list[Chunk]:
        """Live chunk rows for ranked ids, in rank order; ids without a live row are dropped."""
        if not ranked:
            return []
        ids = [chunk_id for chunk_id, _ in ranked]
        with self.db.session() as session:
            # look up by chunk_id alone (its unique index); tenancy is checked on every row below
            rows = session.execute(
                select(
                    ChunkRecord.chunk_id,
                    ChunkRecord.document_id,
                    ChunkRecord.tenant_id,
                    ChunkRecord.knowledge_base_id,
                    ChunkRecord.title,
                    ChunkRecord.text,
                    ChunkRecord.start_char,
                    ChunkRecord.end_char,
                    DocumentRecord.title,
                    DocumentRecord.filename,
                    DocumentRecord.source,
                )
                .join(DocumentRecord, DocumentRecord.id == ChunkRecord.document_id)
                .where(ChunkRecord.chunk_id.in_(ids))
            ).all()
        by_id = {row[0]: row for row in rows if row[2] == tenant_id and row[3] == kb_id}

        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense_hits, start=1)}
        keyword_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(keyword_hits, start=1)}
        out = []
        for chunk_id, score in ranked:
            row = by_id.get(chunk_id)
            if row is None:
                continue
            _, document_id, _, _, section, body, start_char, end_char, title, filename, source = row
            out.append(
                Chunk(
                    chunk_id=chunk_id,
                    document_id=document_id,
                    text=body,
                    start_char=start_char,
                    end_char=end_char,
                    score=float(score),
                    title=title or filename,
                    metadata={
                        "filename": filename,
                        "source": source,
                        "section": section,
                        "dense_rank": dense_rank.get(chunk_id),
                        "keyword_rank": keyword_rank.get(chunk_id),
                    },
                )
            )
        return out
