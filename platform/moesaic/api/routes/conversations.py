"""Conversations of an app and their messages, always within the caller's tenant."""

from __future__ import annotations

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep, require_chat_app
from moesaic.api.schemas import ConversationCreate, ConversationList, ConversationOut, MessageList, ToolCallList

router = APIRouter(tags=["conversations"])


@router.post("/v1/apps/{app}/conversations", status_code=201, openapi_extra=access(app="path:app"))
def create_conversation(app: str, body: ConversationCreate, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    manifest = require_chat_app(platform, principal, app, field="app")
    return ConversationOut(**platform.store.create(principal.tenant_id, manifest.name, title=body.title).to_dict())


@router.get("/v1/apps/{app}/conversations", openapi_extra=access(app="path:app"))
def list_conversations(
    app: str, platform: PlatformDep, principal: PrincipalDep, limit: int = Query(default=50, ge=1, le=500)
) -> ConversationList:
    """The app's conversations, most recently updated first."""
    manifest = platform.apps.get(app, field="app")
    conversations = platform.store.conversations(principal.tenant_id, app=manifest.name, limit=limit)
    return ConversationList(data=[ConversationOut(**c.to_dict()) for c in conversations])


@router.get("/v1/conversations/{conversation_id}", openapi_extra=access(conversation="path:conversation_id"))
def get_conversation(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    return ConversationOut(**platform.store.get(principal.tenant_id, conversation_id).to_dict())


@router.get("/v1/conversations/{conversation_id}/messages", openapi_extra=access(conversation="path:conversation_id"))
def list_messages(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> MessageList:
    """Every stored message in order, operator replies and failed turns (``error``) included."""
    return MessageList.model_validate({"data": platform.store.messages(principal.tenant_id, conversation_id)})


@router.get("/v1/conversations/{conversation_id}/tool-calls", openapi_extra=access(conversation="path:conversation_id"))
def list_tool_calls(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ToolCallList:
    """Every tool the agent ran in the conversation, oldest first."""
    return ToolCallList.model_validate({"data": platform.store.tool_calls(principal.tenant_id, conversation_id)})
