"""Tables for knowledge bases, documents (with their ingestion job state), raw uploads and chunks.

The ``retrieval_chunks`` rows are the source of truth for what search may return: a chunk is visible
only while its row exists, and rows are swapped in one transaction when a document flips to
``indexed``. The keyword index (SQLite FTS5 table / PostgreSQL ``tsv`` column) is created by the
Alembic migration ``0002_retrieval``, not here, because it is dialect-specific DDL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TimestampMixin, new_id, utcnow

DOCUMENT_STATES = ("queued", "parsing", "chunking", "embedding", "indexed", "failed")
IN_PROGRESS_STATES = ("parsing", "chunking", "embedding")


class KnowledgeBaseRecord(TimestampMixin, Base):
    """A named collection of documents owned by one tenant; ``config`` holds per-KB search settings."""

    __tablename__ = "retrieval_knowledge_bases"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_retrieval_kb_tenant_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DocumentRecord(TimestampMixin, Base):
    """One uploaded file and its ingestion job (state, attempts, lease, backoff)."""

    __tablename__ = "retrieval_documents"
    __table_args__ = (
        UniqueConstraint("knowledge_base_id", "filename", name="uq_retrieval_documents_kb_filename"),
        Index("ix_retrieval_documents_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    knowledge_base_id: Mapped[str] = mapped_column(
        ForeignKey("retrieval_knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    doc_date: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ISO date from metadata
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every new content
    indexed_version: Mapped[int] = mapped_column(Integer, default=0)  # version whose chunks are live
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    num_chunks: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # extracted text of indexed_version
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DocumentBlobRecord(Base):
    """The raw bytes of a document's newest version, kept so a job can resume after a crash."""

    __tablename__ = "retrieval_document_blobs"

    document_id: Mapped[str] = mapped_column(
        ForeignKey("retrieval_documents.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ChunkRecord(Base):
    """A live, searchable chunk. ``id`` is the keyword index's rowid; ``chunk_id`` the vector id."""

    __tablename__ = "retrieval_chunks"
    __table_args__ = (Index("ix_retrieval_chunks_kb_doc", "knowledge_base_id", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chunk_id: Mapped[str] = mapped_column(String(80), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    knowledge_base_id: Mapped[str] = mapped_column(
        ForeignKey("retrieval_knowledge_bases.id", ondelete="CASCADE")
    )
    document_id: Mapped[str] = mapped_column(ForeignKey("retrieval_documents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
