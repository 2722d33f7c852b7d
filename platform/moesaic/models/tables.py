"""The table of app model versions: which trained artefacts a tenant has, and which one is active."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TimestampMixin


class ModelVersionRecord(TimestampMixin, Base):
    """One version of one app model for one tenant. ``status``: candidate, active or retired."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "app", "name", "version", name="uq_model_versions_version"),
        Index("ix_model_versions_lookup", "tenant_id", "app", "name", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    app: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    uri: Mapped[str] = mapped_column(String(1000))  # where the artefact lives (a folder or file path)
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(1000), default="")
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    promoted_by: Mapped[str] = mapped_column(String(200), default="")
    previous_active: Mapped[str | None] = mapped_column(String(100), nullable=True)  # what promotion replaced
