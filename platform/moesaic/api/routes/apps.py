"""Apps and models: ``GET /v1/apps`` (native, every app) and ``GET /v1/models`` (OpenAI's listing: chat apps only)."""

from __future__ import annotations

from fastapi import APIRouter

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.api.schemas import AppList, AppOut, ModelList, ModelOut

router = APIRouter(tags=["apps"])


@router.get("/v1/apps", openapi_extra=access())
def list_apps(platform: PlatformDep, principal: PrincipalDep) -> AppList:
    """The apps this key may use; ``chat`` says whether the app is also a chat model."""
    return AppList(
        data=[
            AppOut(
                name=app.name,
                title=app.title,
                description=app.description,
                knowledge_base=app.knowledge_base,
                tools=[t.name for t in app.tools],
                write_tools=[t.name for t in app.tools if t.writes],
                chat=app.is_chat,
            )
            for app in platform.apps
            if principal.may_use(app.name)
        ]
    )


@router.get("/v1/models", openapi_extra=access())
def list_models(platform: PlatformDep, principal: PrincipalDep) -> ModelList:
    """OpenAI's model listing: one model per chat app this key may use."""
    return ModelList(
        object="list",
        data=[
            ModelOut(id=app.name, object="model", created=0, owned_by="moesaic")
            for app in platform.apps.chat_apps
            if principal.may_use(app.name)
        ],
    )
