"""API keys of the caller's tenant: list, create, revoke, rotate (admins only), and ``whoami``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from moesaic.access import Principal, access, get_key, issue_key, list_keys, revoke_key, rotate_key
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, KeyRotate, PrincipalOut
from moesaic.db import utcnow
from moesaic.errors import Forbidden

router = APIRouter(tags=["access"])


def refuse_wider(principal: Principal, apps: "list[str] | None") -> None:
    """An admin limited to some apps manages only principals limited to some of those apps."""
    if not principal.may_manage(apps):
        reach = ", ".join(principal.apps or ())
        raise Forbidden(f"this {principal.kind} is limited to apps {reach}; it may only manage keys and accounts "
                        f"limited to some of them", field="apps")


@router.get("/v1/me", openapi_extra=access())
def whoami(principal: PrincipalDep) -> PrincipalOut:
    return PrincipalOut(id=principal.id, kind=principal.kind, name=principal.label, role=principal.role,
                        apps=list(principal.apps) if principal.apps is not None else None, tenant_id=principal.tenant_id)


@router.get("/v1/keys", openapi_extra=access(role="admin"))
def list_api_keys(platform: PlatformDep, principal: PrincipalDep) -> KeyList:
    return KeyList(data=[KeyOut(**key.to_dict()) for key in list_keys(platform.db, principal.tenant_id)])


@router.post("/v1/keys", status_code=201, responses=error_responses(404), openapi_extra=access(role="admin"))
def create_key(body: KeyCreate, platform: PlatformDep, principal: PrincipalDep) -> KeyCreated:
    """Issue a key (404: an unknown app in ``apps``). The secret is shown only in this response."""
    for app in body.apps or []:
        platform.apps.get(app, field="apps")
    refuse_wider(principal, body.apps)
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    plaintext, info = issue_key(platform.db, principal.tenant_id, name=body.name, role=body.role, apps=body.apps, expires_at=expires)
    return KeyCreated(key=plaintext, **info.to_dict())


@router.post("/v1/keys/{key_id}/revoke", responses=error_responses(404), openapi_extra=access(role="admin"))
def revoke(key_id: str, platform: PlatformDep, principal: PrincipalDep) -> KeyOut:
    """Revoke a key: it gets 401 from the next request on."""
    refuse_wider(principal, get_key(platform.db, principal.tenant_id, key_id).apps)
    return KeyOut(**revoke_key(platform.db, principal.tenant_id, key_id).to_dict())


@router.post("/v1/keys/{key_id}/rotate", status_code=201, responses=error_responses(400, 404), openapi_extra=access(role="admin"))
def rotate(key_id: str, body: KeyRotate, platform: PlatformDep, principal: PrincipalDep) -> KeyCreated:
    """A new secret for the key; the old one keeps working for ``grace_seconds`` (400: the key is revoked)."""
    refuse_wider(principal, get_key(platform.db, principal.tenant_id, key_id).apps)
    plaintext, info = rotate_key(platform.db, principal.tenant_id, key_id, grace_seconds=body.grace_seconds)
    return KeyCreated(key=plaintext, **info.to_dict())
