"""Search over one knowledge base: dense and keyword candidates, rank fusion, filters, MMR, reranking.

Candidates come from Chroma (``vector_store``) and the keyword index (``keyword``); only ids with a
live row in ``retrieval_chunks`` of the caller's tenant and knowledge base are returned. Input
validation of names and tenancy of the knowledge base lookup happen here; uploads do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from moesaic.db import Database
from moesaic.errors import UserError
from moesaic.retrieval.embeddings import Embedder
from moesaic.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion
from moesaic.retrieval.keyword import KeywordIndex
from moesaic.retrieval.models import SEARCH_MODES, KnowledgeBaseConfig, SearchFilters
from moesaic.retrieval.rerank import Reranker
from moesaic.retrieval.tables import ChunkRecord, DocumentRecord, KnowledgeBaseRecord
from moesaic.retrieval.vector_store import ChromaVectorStore
from moesaic.types import Chunk


class Searcher:
    def __init__(
        self,
        db: Database,
        vector_store: ChromaVectorStore,
        embedder: Callable[[str], Embedder],
        reranker: Reranker | None = None,
        rerankers: Callable[[str], Reranker] | None = None,
    ) -> None:
        """``embedder``/``rerankers``: name -> instance (a knowledge base names its own); ``reranker``:
        the platform-wide one used where a knowledge base names none."""
        self.db = db
        self.vector_store = vector_store
        self._embedder = embedder
        self.reranker = reranker
        self._rerankers = rerankers

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
            raise UserError(f"invalid filters ({exc.errors()[0]['msg']}); valid keys: {valid}", field="filters") from exc
        if not query or not query.strip():
            return []
        with self.db.session() as session:
            record = session.scalars(
                select(KnowledgeBaseRecord).where(
                    KnowledgeBaseRecord.tenant_id == tenant_id, KnowledgeBaseRecord.name == kb
                )
            ).first()
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
            vector = self._embedder(config.embedder).embed_query(query) if vector is None else vector
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
        reranker = self._rerankers(config.reranker) if (config.reranker and self._rerankers) else self.reranker
        need = top_k * 4 if (mmr is not None or (rerank and reranker is not None)) else top_k
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
        if rerank and reranker is not None and chunks:
            pool = chunks[: max(top_k * 3, 10)]
            scores = reranker.score(query, [c.text for c in pool])
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
