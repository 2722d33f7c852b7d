"""Public value types of the retrieval service: document status, search filters, KB settings."""

from __future__ import annotations

from dataclasses import dataclass, field
import datetime as dt
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from moesaic.retrieval.tables import DocumentRecord

SearchMode = Literal["hybrid", "dense", "keyword"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "dense", "keyword")


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class DocumentInfo:
    """What callers see of a document and its ingestion job."""

    id: str
    knowledge_base: str
    filename: str
    title: str
    status: str
    error: str | None
    attempts: int
    num_chunks: int
    content_hash: str
    size_bytes: int
    version: int
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None  # the ingestion job an upload queued (known on the upload's answer)

    @classmethod
    def from_record(cls, record: DocumentRecord, knowledge_base: str) -> "DocumentInfo":
        return cls(
            id=record.id,
            knowledge_base=knowledge_base,
            filename=record.filename,
            title=record.title or record.filename,
            status=record.status,
            error=record.error,
            attempts=record.attempts,
            num_chunks=record.num_chunks,
            content_hash=record.content_hash,
            size_bytes=record.size_bytes,
            version=record.version,
            created_at=aware(record.created_at),
            updated_at=aware(record.updated_at),
            metadata=dict(record.metadata_ or {}),
        )

    @property
    def is_done(self) -> bool:
        return self.status in ("indexed", "failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "knowledge_base": self.knowledge_base,
            "filename": self.filename,
            "title": self.title,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "num_chunks": self.num_chunks,
            "content_hash": self.content_hash,
            "size_bytes": self.size_bytes,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "metadata": self.metadata,
            "job_id": self.job_id,
        }


class DocumentMetadata(BaseModel):
    """Optional metadata on upload; known keys feed the search filters, the rest is kept as is."""

    model_config = ConfigDict(extra="allow")

    title: str | None = Field(default=None, max_length=500)
    source: str | None = Field(default=None, max_length=500)
    tags: list[str] = Field(default_factory=list)
    date: dt.date | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _one_tag(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class SearchFilters(BaseModel):
    """Metadata filters, applied to the dense and the keyword side alike."""

    model_config = ConfigDict(extra="forbid")

    document_id: list[str] | None = None
    filename: list[str] | None = None
    source: list[str] | None = None
    tags: list[str] | None = None  # a document matches when it has any of them
    date_from: dt.date | None = None  # inclusive, on the document's metadata date (else upload date)
    date_to: dt.date | None = None

    @field_validator("document_id", "filename", "source", "tags", mode="before")
    @classmethod
    def _one_value(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class KnowledgeBaseConfig(BaseModel):
    """Per-knowledge-base retrieval settings (stored on the knowledge base row)."""

    model_config = ConfigDict(extra="forbid")

    dense_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=1.0, ge=0)
    rrf_k: int = Field(default=60, ge=1, le=1000)
    title_weight: float = Field(default=1.0, ge=0)
    chunk_size: int = Field(default=200, ge=16, le=2000)
    chunk_overlap: int = Field(default=30, ge=0, le=500)
    num_candidates: int = Field(default=100, ge=10, le=1000)
    # which registered embedder and reranker this knowledge base uses (apps may register their own)
    embedder: str = Field(default="minilm", min_length=1, max_length=100)
    reranker: str | None = Field(default=None, max_length=100)
    # drop the most common query terms past this many matched chunks (None: 8000 SQLite, 3000 PostgreSQL)
    keyword_max_postings: int | None = Field(default=None, ge=100)
