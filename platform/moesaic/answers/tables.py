"""Tables of the answer cache: generated answers kept for repeated questions, and operators' pinned answers.

Both carry their tenant. ``answer_cache_entries`` is disposable (a version key, a TTL, a size cap decide what
is served); ``pinned_answers`` are curated content and go only when an operator (or an erasure) removes them.
Embeddings are MiniLM vectors stored as float32 bytes (``numpy.frombuffer``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TimestampMixin, new_id


class CachedAnswer(TimestampMixin, Base):
    __tablename__ = "answer_cache_entries"
    __table_args__ = (Index("ix_answer_cache_scope", "tenant_id", "app", "knowledge_base", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(String(100))
    knowledge_base: Mapped[str] = mapped_column(String(100), default="")  # '' when the turn searched none
    version: Mapped[str] = mapped_column(String(64))  # the knowledge base's and the app's fingerprint
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised question
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    conversation_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)  # where it was generated
    model_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # what generating it took: saved on each hit
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PinnedAnswer(TimestampMixin, Base):
    __tablename__ = "pinned_answers"
    __table_args__ = (UniqueConstraint("tenant_id", "app", "question_key", name="uq_pinned_answers_question"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    answer: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_hit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
