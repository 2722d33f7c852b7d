"""Conversations of an app and their messages, always within the caller's tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep, require_chat_app
from moesaic.api.schemas import ConversationCreate

router = APIRouter(tags=["conversations"])


@router.post("/v1/apps/{app}/conversations", status_code=201, openapi_extra=access(app="path:app"))
def create_conversation(app: str, body: ConversationCreate, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    manifest = require_chat_app(platform, principal, app, field="app")
    return platform.store.create(principal.tenant_id, manifest.name, title=body.title).to_dict()


@router.get("/v1/apps/{app}/conversations", openapi_extra=access(app="path:app"))
def list_conversations(
    app: str, platform: PlatformDep, principal: PrincipalDep, limit: int = Query(default=50, ge=1, le=500)
) -> dict[str, Any]:
    manifest = platform.apps.get(app, field="app")
    conversations = platform.store.conversations(principal.tenant_id, app=manifest.name, limit=limit)
    return {"data": [c.to_dict() for c in conversations]}


@router.get("/v1/conversations/{conversation_id}", openapi_extra=access(conversation="path:conversation_id"))
def get_conversation(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return platform.store.get(principal.tenant_id, conversation_id).to_dict()


@router.get("/v1/conversations/{conversation_id}/messages", openapi_extra=access(conversation="path:conversation_id"))
def list_messages(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"data": platform.store.messages(principal.tenant_id, conversation_id)}


@router.get("/v1/conversations/{conversation_id}/tool-calls", openapi_extra=access(conversation="path:conversation_id"))
def list_tool_calls(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"data": platform.store.tool_calls(principal.tenant_id, conversation_id)}
