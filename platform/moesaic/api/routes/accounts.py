"""Console accounts (admins manage them) and sign-in sessions (public: username and password)."""

from __future__ import annotations

from fastapi import APIRouter

from moesaic.access import access, create_account, disable_account, find_tenant, get_account, list_accounts, record, sign_in
from moesaic.api.routes.keys import refuse_wider
from moesaic.access.principal import Principal
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import AccountCreate, AccountList, AccountOut, SessionCreate, SessionOut
from moesaic.errors import Unauthorized

router = APIRouter(tags=["access"])


@router.get("/v1/accounts", openapi_extra=access(role="admin"))
def list_console_accounts(platform: PlatformDep, principal: PrincipalDep) -> AccountList:
    return AccountList(data=[AccountOut(**a.to_dict()) for a in list_accounts(platform.db, principal.tenant_id)])


@router.post("/v1/accounts", status_code=201, responses=error_responses(404, 409), openapi_extra=access(role="admin"))
def create_console_account(body: AccountCreate, platform: PlatformDep, principal: PrincipalDep) -> AccountOut:
    """Create a console account (404: an unknown app in ``apps``; 409: the username is taken)."""
    for app in body.apps or []:
        platform.apps.get(app, field="apps")
    refuse_wider(principal, body.apps)
    info = create_account(platform.db, principal.tenant_id, body.username, body.password,
                          display_name=body.display_name, role=body.role, apps=body.apps)
    return AccountOut(**info.to_dict())


@router.post("/v1/accounts/{account_id}/disable", responses=error_responses(404), openapi_extra=access(role="admin"))
def disable(account_id: str, platform: PlatformDep, principal: PrincipalDep) -> AccountOut:
    refuse_wider(principal, get_account(platform.db, principal.tenant_id, account_id).apps)
    return AccountOut(**disable_account(platform.db, principal.tenant_id, account_id).to_dict())


@router.post("/v1/sessions", status_code=201, responses=error_responses(401), openapi_extra=access(public=True))
def create_session(body: SessionCreate, platform: PlatformDep) -> SessionOut:
    """Sign in with a console account; the key it returns expires with the session."""
    tenant_id = find_tenant(platform.db, body.tenant)
    if tenant_id is None:
        raise Unauthorized("wrong username or password")
    key, account, expires = sign_in(platform.db, tenant_id, body.username, body.password)
    who = Principal(tenant_id, account.id, "account", account.display_name, account.role)  # type: ignore[arg-type]
    record(platform.db, who, "sign in", target=account.username, status=201)
    return SessionOut(key=key, expires_at=expires.isoformat(), account=AccountOut(**account.to_dict()))
