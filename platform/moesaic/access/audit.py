"""The audit log: one row per state-changing action of any principal, readable by admins.

The gate writes a row for every successful non-read request; code that acts on its own behalf
(the agent running a write tool, a job applying a label) calls ``record`` directly. Rows are never
updated. This module does not decide what is state-changing (callers do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from moesaic.access.principal import Principal
from moesaic.access.tables import AuditRecord
from moesaic.db import Database


def record(
    db: Database,
    principal: Principal | None,
    action: str,
    *,
    tenant_id: str | None = None,
    app: str | None = None,
    target: str = "",
    status: int = 0,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row (``principal`` None: the platform acting on its own)."""
    tenant = tenant_id or (principal.tenant_id if principal else "")
    with db.session() as session:
        session.add(AuditRecord(
            tenant_id=tenant,
            principal_id=principal.id if principal else "",
            principal_kind=principal.kind if principal else "system",
            principal_name=principal.label if principal else "moesaic",
            app=app, action=action[:200], target=target[:500], status=status, detail=detail or {},
        ))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    principal_id: str
    principal_kind: str
    principal_name: str
    app: str | None
    action: str
    target: str
    status: int
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "principal": {"id": self.principal_id, "kind": self.principal_kind,
                "name": self.principal_name}, "app": self.app, "action": self.action, "target": self.target,
                "status": self.status, "detail": self.detail}


def entries(
    db: Database, tenant_id: str, *, app: str | None = None, action: str | None = None, principal_id: str | None = None,
    limit: int = 100, before_id: int | None = None, apps: tuple[str, ...] | None = None,
) -> list[AuditEntry]:
    """Newest first, within one tenant; ``before_id`` pages backwards; ``apps`` keeps rows of those apps and
    rows of no app (None: every row)."""
    query = select(AuditRecord).where(AuditRecord.tenant_id == tenant_id)
    if apps is not None:
        query = query.where(or_(AuditRecord.app.is_(None), AuditRecord.app.in_(apps)))
    if app:
        query = query.where(AuditRecord.app == app)
    if action:
        query = query.where(AuditRecord.action.contains(action))
    if principal_id:
        query = query.where(AuditRecord.principal_id == principal_id)
    if before_id:
        query = query.where(AuditRecord.id < before_id)
    with db.session() as session:
        rows = session.scalars(query.order_by(AuditRecord.id.desc()).limit(limit)).all()
        return [AuditEntry(r.id, r.created_at, r.principal_id, r.principal_kind, r.principal_name, r.app, r.action,
                           r.target, r.status, dict(r.detail or {})) for r in rows]
