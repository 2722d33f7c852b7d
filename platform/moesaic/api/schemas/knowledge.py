"""Bodies of the knowledge-base, document and search routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from moesaic.api.schemas.common import ResponseModel
from moesaic.retrieval.models import KnowledgeBaseConfig

DocumentStatus = Literal["queued", "parsing", "chunking", "embedding", "indexed", "failed"]


class DocumentCounts(ResponseModel):
    """How many documents are in each ingestion state."""

    queued: int
    parsing: int
    chunking: int
    embedding: int
    indexed: int
    failed: int


class KnowledgeBaseOut(ResponseModel):
    id: str
    name: str
    num_documents: int
    counts: DocumentCounts
    config: KnowledgeBaseConfig
    created_at: str
    owner_app: str | None = Field(description="The app that owns it (a key must be allowed that app), or null: every key of the tenant.")


class KnowledgeBaseList(ResponseModel):
    data: list[KnowledgeBaseOut]


class DocumentOut(ResponseModel):
    id: str
    knowledge_base: str
    filename: str
    title: str
    status: DocumentStatus = Field(description="Ingestion runs in the background: poll until 'indexed' or 'failed'.")
    error: str | None
    attempts: int
    num_chunks: int
    content_hash: str
    size_bytes: int
    version: int = Field(description="Grows by one each time new bytes replace the document.")
    created_at: str
    updated_at: str
    metadata: dict[str, Any]
    job_id: str | None = Field(default=None, description="The ingestion job (GET /v1/jobs/{job_id}); set on upload.")


class DocumentList(ResponseModel):
    data: list[DocumentOut]
    counts: DocumentCounts


class SearchHit(ResponseModel):
    chunk_id: str
    document_id: str
    title: str
    text: str
    start_char: int
    end_char: int
    score: float


class SearchResults(ResponseModel):
    data: list[SearchHit] = Field(description="Best first.")
