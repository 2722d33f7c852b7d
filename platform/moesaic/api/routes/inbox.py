"""The operator inbox: conversations handed to a person, and what an operator can do with them.

Handed-off conversations are listed here; an operator claims one, replies as ``operator`` (the
customer sees those replies in the same conversation), then resolves it or hands it back to the
bot. ``handoff`` is the operator's take-over button for a conversation the bot is handling.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import ConversationOut, HandoffRequest, InboxItem, InboxList, MessageOut, OperatorMessage
from moesaic.errors import Conflict
from moesaic.types import Message

router = APIRouter(tags=["inbox"])
INBOX_STATES = ("handed_off", "claimed")


@router.get("/v1/inbox", openapi_extra=access(app="query:app"))
def list_inbox(
    platform: PlatformDep, principal: PrincipalDep, app: str | None = Query(default=None, max_length=100)
) -> InboxList:
    """Conversations waiting for or held by an operator (``handed_off``, ``claimed``), of the apps this key may use."""
    conversations = platform.store.conversations(principal.tenant_id, app=app, states=INBOX_STATES, limit=200,
                                                 apps=principal.apps)  # only apps the key may use, filtered in SQL
    return InboxList(data=[InboxItem(**c.to_dict(), operator=c.metadata.get("operator")) for c in conversations])


@router.post("/v1/conversations/{conversation_id}/handoff", responses=error_responses(409), openapi_extra=access(conversation="path:conversation_id"))
def hand_off(conversation_id: str, body: HandoffRequest, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    """Take a conversation away from the bot into the inbox (409 if it is already there)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state in INBOX_STATES:
        raise Conflict(f"conversation is already {conversation.state}", field="conversation_id")
    return ConversationOut(**platform.store.update(principal.tenant_id, conversation_id, state="handed_off", summary=body.summary).to_dict())


@router.post("/v1/conversations/{conversation_id}/claim", responses=error_responses(409), openapi_extra=access(conversation="path:conversation_id"))
def claim(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    """Claim a handed-off conversation for the caller (409 unless it is ``handed_off``)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state != "handed_off":
        raise Conflict(f"only a handed-off conversation can be claimed; this one is {conversation.state}", field="conversation_id")
    metadata = {**conversation.metadata, "operator": principal.label, "operator_id": principal.id}
    return ConversationOut(**platform.store.update(principal.tenant_id, conversation_id, state="claimed", metadata=metadata).to_dict())


@router.post(
    "/v1/conversations/{conversation_id}/operator-messages",
    status_code=201,
    responses=error_responses(409),
    openapi_extra=access(conversation="path:conversation_id"),
)
def reply_as_operator(conversation_id: str, body: OperatorMessage, platform: PlatformDep, principal: PrincipalDep) -> MessageOut:
    """Reply to the customer as an operator (409 unless the conversation is handed off or claimed)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state not in INBOX_STATES:
        raise Conflict("hand the conversation off (or claim it) before replying as an operator", field="conversation_id")
    return MessageOut(**platform.store.append(principal.tenant_id, conversation_id, Message(role="assistant", content=body.content), author="operator"))


@router.post("/v1/conversations/{conversation_id}/resolve", openapi_extra=access(conversation="path:conversation_id"))
def resolve(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    """Close the conversation; the bot takes it up again if the customer writes."""
    platform.store.get(principal.tenant_id, conversation_id)
    return ConversationOut(**platform.store.update(principal.tenant_id, conversation_id, state="resolved").to_dict())


@router.post("/v1/conversations/{conversation_id}/handback", responses=error_responses(409), openapi_extra=access(conversation="path:conversation_id"))
def hand_back(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    """Give the conversation back to the bot (409 unless an operator has it)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state not in INBOX_STATES:
        raise Conflict(f"conversation is {conversation.state}, not with an operator", field="conversation_id")
    metadata = {k: v for k, v in conversation.metadata.items() if k not in ("operator", "operator_id")}
    return ConversationOut(**platform.store.update(principal.tenant_id, conversation_id, state="active", metadata=metadata).to_dict())
