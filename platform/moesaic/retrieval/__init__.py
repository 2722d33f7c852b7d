"""Retrieval: knowledge bases, trustworthy ingestion and hybrid search with citations.

``KnowledgeService`` is the whole public surface; ``commands`` holds the CLI's plain functions.
"""

from moesaic.retrieval.models import SEARCH_MODES, DocumentInfo
from moesaic.retrieval.service import KnowledgeService

__all__ = ["SEARCH_MODES", "DocumentInfo", "KnowledgeService"]
