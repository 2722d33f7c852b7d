"""Retention policies: how long a tenant keeps conversations and finished jobs, for all apps or one app."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TimestampMixin, new_id, utcnow

ALL_APPS = ""  # the app of a tenant-wide policy; an app's own policy wins over it


class RetentionPolicy(TimestampMixin, Base):
    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "app", name="uq_retention_policies_tenant_app"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(String(100), default=ALL_APPS)
    conversation_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: kept
    job_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
