"""Dense vectors in Chroma: the only module that imports chromadb.

One collection per knowledge base (``kb_<id>``), cosine space, vectors supplied by us (Chroma's own
embedding functions are never used, so nothing downloads). Each vector carries ``document_id`` and
``version`` so a document's old or half-written vectors can be removed. Chroma is not the source of
truth for visibility: search keeps only ids that have a live row in ``retrieval_chunks``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np


class ChromaVectorStore:
    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if url:
            parsed = urlparse(url)
            self._client: Any = chromadb.HttpClient(
                host=parsed.hostname or "localhost",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        else:
            if path is None:
                raise ValueError("ChromaVectorStore needs a path (embedded) or a url (server)")
            path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> "ChromaVectorStore":
        return cls(path=settings.chroma_path, url=settings.chroma_url)

    def _collection(self, kb_id: str) -> Any:
        with self._lock:
            collection = self._collections.get(kb_id)
            if collection is None:
                collection = self._client.get_or_create_collection(
                    name=f"kb_{kb_id}", embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
                self._collections[kb_id] = collection
            return collection

    def upsert(
        self, kb_id: str, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]
    ) -> None:
        if ids:
            self._collection(kb_id).upsert(ids=ids, embeddings=vectors.tolist(), metadatas=metadatas)

    def query(
        self, kb_id: str, vector: np.ndarray, n: int, document_ids: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``n`` nearest vectors, best first."""
        if document_ids is not None and not document_ids:
            return []
        where: dict[str, Any] | None = None
        if document_ids is not None:
            where = {"document_id": {"$in": list(document_ids)}}
        result = self._collection(kb_id).query(
            query_embeddings=[vector.tolist()], n_results=n, where=where, include=["distances"]
        )
        ids = result["ids"][0] if result["ids"] else []
        distances = result["distances"][0] if result.get("distances") else [0.0] * len(ids)
        return [(chunk_id, 1.0 - float(d)) for chunk_id, d in zip(ids, distances)]

    def get_vectors(self, kb_id: str, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        result = self._collection(kb_id).get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(result["ids"], result["embeddings"])}

    def delete_document(self, kb_id: str, document_id: str, *, keep_version: int | None = None) -> None:
        """Remove a document's vectors (all of them, or all but ``keep_version``'s)."""
        where: dict[str, Any] = {"document_id": document_id}
        if keep_version is not None:
            where = {"$and": [{"document_id": document_id}, {"version": {"$ne": keep_version}}]}
        self._collection(kb_id).delete(where=where)

    def count(self, kb_id: str, document_id: str | None = None) -> int:
        collection = self._collection(kb_id)
        if document_id is None:
            return int(collection.count())
        return len(collection.get(where={"document_id": document_id}, include=[])["ids"])

    def drop(self, kb_id: str) -> None:
        with self._lock:
            self._collections.pop(kb_id, None)
        try:
            self._client.delete_collection(f"kb_{kb_id}")
        except Exception:  # already gone
            pass
