"""Retrieval: knowledge bases, trustworthy ingestion and hybrid search with citations.

``KnowledgeService`` is the public surface (plus the shared embedder, for apps that classify text); ``commands`` holds the CLI's plain functions.
"""

from moesaic.retrieval.embeddings import Embedder, default_embedder
from moesaic.retrieval.models import SEARCH_MODES, DocumentInfo
from moesaic.retrieval.service import KnowledgeService

__all__ = ["SEARCH_MODES", "DocumentInfo", "Embedder", "KnowledgeService", "default_embedder"]
