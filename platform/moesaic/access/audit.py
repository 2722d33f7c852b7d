"""The audit log: one row per state-changing action of any principal, readable by admins.

The gate writes a row for every successful non-read request (``request_entry`` says which row); a
route may write that row itself inside the transaction of the change it records (``record_request_in``:
one commit instead of two, and the row commits with the change or not at all), and the gate then writes
none. Code that acts on its own behalf (the agent running a write tool, a job applying a label) calls
``record`` directly. Rows are never updated. This module does not decide what is state-changing (callers do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from moesaic.access.principal import Principal
from moesaic.access.tables import AuditRecord
from moesaic.db import Database

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITTEN = "audit_written"  # on ``request.state``: the route wrote the request's row in its own transaction


def record(db: Database, principal: Principal | None, action: str, **fields: Any) -> None:
    """Append one audit row in a transaction of its own (``principal`` None: the platform acting on its own;
    ``fields``: ``tenant_id``, ``app``, ``target``, ``status``, ``detail`` as in ``record_in``)."""
    with db.session() as session:
        record_in(session, principal, action, **fields)


def record_in(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    tenant_id: str | None = None,
    app: str | None = None,
    target: str = "",
    status: int = 0,
    detail: dict[str, Any] | None = None,
) -> None:
    """``record`` in the caller's transaction: the row commits, or rolls back, with what it records."""
    session.add(AuditRecord(
        tenant_id=tenant_id or (principal.tenant_id if principal else ""),
        principal_id=principal.id if principal else "",
        principal_kind=principal.kind if principal else "system",
        principal_name=principal.label if principal else "moesaic",
        app=app, action=action[:200], target=target[:500], status=status, detail=detail or {},
    ))


def request_entry(request: Any, status: int) -> dict[str, Any] | None:
    """The arguments of ``record`` for one HTTP request that passed the gate (a Starlette ``Request``), or
    None when it is not recorded: a read, a failure, a public route."""
    principal = getattr(request.state, "principal", None)
    if principal is None or request.method in READ_METHODS or status >= 400:
        return None
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    target = json.dumps(request.path_params, sort_keys=True) if request.path_params else ""
    return {"principal": principal, "action": f"{request.method} {path}", "app": getattr(request.state, "owner_app", None),
            "target": target, "status": status}


def record_request_in(session: Session, request: Any, status: int = 200) -> None:
    """Write the gate's audit row of ``request`` in the caller's transaction (the route answers ``status``
    when that transaction commits); the gate then writes no second row. Call it inside the transaction."""
    entry = request_entry(request, status)
    if entry is not None:
        record_in(session, entry.pop("principal"), entry.pop("action"), **entry)
        setattr(request.state, WRITTEN, True)


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
