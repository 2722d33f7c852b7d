"""The operator inbox: conversations handed to a person, and what an operator can do with them.

Handed-off conversations are listed here; an operator claims one, replies as ``operator`` (the
customer sees those replies in the same conversation), then resolves it or hands it back to the
bot. ``handoff`` is the operator's take-over button for a conversation the bot is handling. Each item
says who the customer is, since when they have waited and which operator (by name) holds it; operators'
replies carry their name. ``GET /v1/conversations`` searches every conversation, resolved ones included.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.agent.loop import HANDED_OFF_NOTE, HANDOFF_REPLY
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.api.schemas import ConversationOut, ConversationPage, ConversationState, HandoffRequest
from moesaic.api.schemas import InboxItem, InboxList, MessageOut, OperatorMessage
from moesaic.errors import Conflict, error_responses
from moesaic.identity import Identity
from moesaic.memory import HANDED_OFF_AT, ConversationInfo, search_conversations, waiting_since
from moesaic.services import Platform
from moesaic.types import Message

router = APIRouter(tags=["inbox"])
INBOX_STATES = ("handed_off", "claimed")
AUTOMATIC_REPLIES = (HANDED_OFF_NOTE, HANDOFF_REPLY)  # the bot's notes while a person has it answer nothing


def inbox_items(platform: Platform, tenant_id: str, conversations: list[ConversationInfo]) -> list[InboxItem]:
    """Conversations as the desk lists them: customer, waiting time and operator beside each."""
    waits = waiting_since(platform.db, tenant_id, conversations, automatic=AUTOMATIC_REPLIES)
    now = datetime.now(timezone.utc)
    items = []
    for c in conversations:
        identity, since = Identity.from_metadata(c.metadata), waits.get(c.id)
        items.append(InboxItem(
            **c.to_dict(), operator=c.metadata.get("operator"), customer=identity.subject if identity else None,
            waiting_since=since.isoformat() if since else None,
            waiting_seconds=max(0, int((now - since).total_seconds())) if since else None,
        ))
    return items


@router.get("/v1/inbox", openapi_extra=access(app="query:app"))
def list_inbox(
    platform: PlatformDep, principal: PrincipalDep, app: str | None = Query(default=None, max_length=100)
) -> InboxList:
    """Conversations waiting for or held by an operator (``handed_off``, ``claimed``), of the apps this key may use,
    with each one's customer, waiting time and operator."""
    conversations = platform.store.conversations(principal.tenant_id, app=app, states=INBOX_STATES, limit=200,
                                                 apps=principal.apps)  # only apps the key may use, filtered in SQL
    return InboxList(data=inbox_items(platform, principal.tenant_id, conversations))


@router.get("/v1/conversations", openapi_extra=access(app="query:app"))
def search(
    platform: PlatformDep,
    principal: PrincipalDep,
    q: str = Query(default="", max_length=200, description="Words in the title, the summary or any message."),
    customer: str = Query(default="", max_length=100, description="The start of the authenticated customer's id."),
    state: list[ConversationState] = Query(default=[], description="Keep these states (repeat the parameter)."),
    app: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> ConversationPage:
    """Search the tenant's conversations, resolved ones included, of the apps this key may use; newest first."""
    page = search_conversations(platform.db, principal.tenant_id, text=q, customer=customer, states=tuple(state),
                                app=app, apps=principal.apps, limit=limit, offset=offset)
    return ConversationPage(data=inbox_items(platform, principal.tenant_id, page.conversations), total=page.total,
                            limit=limit, offset=offset, has_more=offset + len(page.conversations) < page.total)


@router.post("/v1/conversations/{conversation_id}/handoff", responses=error_responses(409), openapi_extra=access(conversation="path:conversation_id"))
def hand_off(conversation_id: str, body: HandoffRequest, platform: PlatformDep, principal: PrincipalDep) -> ConversationOut:
    """Take a conversation away from the bot into the inbox (409 if it is already there)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state in INBOX_STATES:
        raise Conflict(f"conversation is already {conversation.state}", field="conversation_id")
    metadata = {**conversation.metadata, HANDED_OFF_AT: datetime.now(timezone.utc).isoformat()}
    updated = platform.store.update(principal.tenant_id, conversation_id, state="handed_off", summary=body.summary,
                                    metadata=metadata)
    return ConversationOut(**updated.to_dict())


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
    """Reply to the customer as an operator, under the operator's name (409 unless the conversation is handed off
    or claimed)."""
    conversation = platform.store.get(principal.tenant_id, conversation_id)
    if conversation.state not in INBOX_STATES:
        raise Conflict("hand the conversation off (or claim it) before replying as an operator", field="conversation_id")
    reply = Message(role="assistant", content=body.content, name=principal.label[:100])
    return MessageOut(**platform.store.append(principal.tenant_id, conversation_id, reply, author="operator"))


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
