"""Tables of identities and their trail: API keys, console accounts and the audit log.

Every row carries its tenant. Keys are stored as a salted SHA-256 of the secret (keys are long
random strings, so a fast hash with a salt is enough; passwords of accounts use scrypt).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TimestampMixin, new_id


class Account(TimestampMixin, Base):
    """A person who signs in to the console: a name, a scrypt password hash, a role, maybe some apps."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_accounts_tenant_username"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="operator")
    apps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiKey(TimestampMixin, Base):
    """An API key (or an account's sign-in session when ``account_id`` is set).

    ``hash_scheme`` is ``salted-sha256`` for keys made or used since revision 0003 and ``sha256`` for
    older keys, which are rehashed on their next use. ``apps`` limits the key (null: all apps).
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hash_scheme: Mapped[str] = mapped_column(String(20), default="salted-sha256")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="operator")
    apps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rotated_from: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AuditRecord(TimestampMixin, Base):
    """One state-changing action: who (principal), where (tenant, app), what (action, target), result."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    principal_id: Mapped[str] = mapped_column(String(32), default="")
    principal_kind: Mapped[str] = mapped_column(String(20), default="")
    principal_name: Mapped[str] = mapped_column(String(200), default="")
    app: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
