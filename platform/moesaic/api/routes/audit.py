"""The audit log of the caller's tenant (admins only), newest first; rows of apps the admin may not use are hidden."""

from __future__ import annotations

from fastapi import APIRouter, Query

from moesaic.access import access, entries
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.api.schemas import AuditEntryOut, AuditList

router = APIRouter(tags=["access"])


@router.get("/v1/audit", openapi_extra=access(role="admin"))
def list_audit(
    platform: PlatformDep,
    principal: PrincipalDep,
    app: str | None = Query(default=None, max_length=100),
    action: str | None = Query(default=None, max_length=200),
    principal_id: str | None = Query(default=None, max_length=32),
    before_id: int | None = Query(default=None, ge=1, le=2_147_483_647),
    limit: int = Query(default=100, ge=1, le=1000),
) -> AuditList:
    rows = entries(platform.db, principal.tenant_id, app=app, action=action, principal_id=principal_id, limit=limit,
                   before_id=before_id, apps=principal.apps)  # a scoped admin sees its apps' rows (filtered in SQL)
    return AuditList(data=[AuditEntryOut(**row.to_dict()) for row in rows])
