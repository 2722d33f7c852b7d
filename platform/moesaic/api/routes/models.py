"""An app's model versions in the caller's tenant: list them; promote one or roll back (admins).

Promotion is explicit and reversible: ``promote`` makes a version active and remembers the one it
replaced; ``rollback`` returns to it. Both land in the audit log (the gate's middleware writes it).
"""

from __future__ import annotations

from fastapi import APIRouter

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import AppModelList, AppModelOut, ModelVersionOut, PromoteRequest

router = APIRouter(tags=["models"])


@router.get("/v1/apps/{app}/models", openapi_extra=access(app="path:app"))
def list_models(app: str, platform: PlatformDep, principal: PrincipalDep) -> AppModelList:
    """Every model the app ships, with the tenant's versions and the active one."""
    models = []
    for shipped in platform.apps.get(app, field="app").models:
        versions = platform.models.versions(principal.tenant_id, app, shipped.name)
        active = next(v.version for v in versions if v.status == "active")
        models.append(AppModelOut(name=shipped.name, active=active, versions=[ModelVersionOut(**v.to_dict()) for v in versions]))
    return AppModelList(data=models)


@router.post("/v1/apps/{app}/models/{name}/promote", openapi_extra=access(app="path:app", role="admin"),
             responses=error_responses(409))
def promote(app: str, name: str, body: PromoteRequest, platform: PlatformDep, principal: PrincipalDep) -> ModelVersionOut:
    """Make ``version`` the active one (409 when it already is)."""
    version = platform.models.promote(principal.tenant_id, app, name, body.version, by=principal.label)
    return ModelVersionOut(**version.to_dict())


@router.post("/v1/apps/{app}/models/{name}/rollback", openapi_extra=access(app="path:app", role="admin"),
             responses=error_responses(409))
def rollback(app: str, name: str, platform: PlatformDep, principal: PrincipalDep) -> ModelVersionOut:
    """Return to the version the last promotion replaced (409 when there is none)."""
    return ModelVersionOut(**platform.models.rollback(principal.tenant_id, app, name, by=principal.label).to_dict())
