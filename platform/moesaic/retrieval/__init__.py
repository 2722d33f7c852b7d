"""Retrieval: knowledge bases, trustworthy ingestion and hybrid search with citations.

``KnowledgeService`` is the public surface (plus the shared embedder, for apps that classify text); ``commands`` holds the CLI's plain functions.
"""

from moesaic.retrieval.embeddings import DEFAULT_EMBEDDER, Embedder, default_embedder
from moesaic.retrieval.rerank import Reranker
from moesaic.retrieval.models import SEARCH_MODES, DocumentInfo
from moesaic.retrieval.service import KnowledgeService

__all__ = ["DEFAULT_EMBEDDER", "SEARCH_MODES", "DocumentInfo", "Embedder", "KnowledgeService", "Reranker", "default_embedder"]
