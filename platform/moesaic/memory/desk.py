"""What the operator desk asks of stored conversations: how long each customer has waited, and search.

A customer *waits* from their first message that nobody has answered yet: an operator's message (or an
operator's tool run) answers, and so does a bot's answer, except the automatic notes the caller names
(the agent's "a person is handling this"). With no unanswered message, a conversation handed off after
its last answer (handed off or claimed) waits from the hand-off (``metadata["handed_off_at"]``). Search finds conversations by
words in their title, summary or messages, by the authenticated customer (``moesaic.identity``) and by
state, newest first, a page at a time. Every query names the tenant. Nothing here changes a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Text, cast, func, or_, select

from moesaic.db import Database
from moesaic.memory.store import ConversationInfo
from moesaic.memory.tables import Conversation, MessageRecord

HANDED_OFF_AT = "handed_off_at"  # conversation metadata: when it last went to the inbox (ISO 8601)
INBOX_STATES = ("handed_off", "claimed")  # claiming a conversation answers nobody


def _like(value: str) -> str:
    """``value`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def waiting_since(
    db: Database, tenant_id: str, conversations: Sequence[ConversationInfo], *, automatic: Sequence[str] = ()
) -> dict[str, datetime | None]:
    """For each conversation, since when its customer has waited for a person (None: nobody waits)."""
    ids = [c.id for c in conversations]
    if not ids:
        return {}
    query = (
        select(MessageRecord.conversation_id, MessageRecord.role, MessageRecord.author, MessageRecord.content,
               MessageRecord.created_at)
        .where(MessageRecord.tenant_id == tenant_id, MessageRecord.conversation_id.in_(ids),
               MessageRecord.role.in_(("user", "assistant")), MessageRecord.error.is_(None))
        .order_by(MessageRecord.conversation_id, MessageRecord.seq)
    )
    since: dict[str, datetime | None] = dict.fromkeys(ids)
    answered: dict[str, datetime | None] = dict.fromkeys(ids)
    with db.session() as session:
        for conversation_id, role, author, content, created_at in session.execute(query):
            if role == "user":
                since[conversation_id] = since[conversation_id] or created_at
            elif author.startswith("operator") or (content and content not in automatic):  # a bot's tool call says nothing
                since[conversation_id], answered[conversation_id] = None, created_at
    for conversation in conversations:
        handed_off = conversation.metadata.get(HANDED_OFF_AT)
        if since[conversation.id] is None and conversation.state in INBOX_STATES and isinstance(handed_off, str):
            at = datetime.fromisoformat(handed_off)
            last = answered[conversation.id]
            if last is None or _aware(last) <= at:
                since[conversation.id] = at
    return {key: _aware(value) if value else None for key, value in since.items()}


def _aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class SearchPage:
    conversations: list[ConversationInfo]
    total: int


def search_conversations(
    db: Database,
    tenant_id: str,
    *,
    text: str = "",
    customer: str = "",
    states: Sequence[str] = (),
    app: str | None = None,
    apps: tuple[str, ...] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """Conversations of ``tenant_id`` that match every filter given, most recently updated first.

    ``text``: a case-insensitive substring of the title, the summary or any message; ``customer``: the start
    of the authenticated subject's id; ``apps`` keeps those apps' conversations (None: every app).
    """
    where = [Conversation.tenant_id == tenant_id]
    if app:
        where.append(Conversation.app == app)
    if apps is not None:
        where.append(Conversation.app.in_(apps))
    if states:
        where.append(Conversation.state.in_(tuple(states)))
    if text.strip():
        pattern = f"%{_like(text.strip().lower())}%"
        in_messages = (
            select(MessageRecord.id)
            .where(MessageRecord.conversation_id == Conversation.id,  # the conversation is the tenant's: its index
                   func.lower(MessageRecord.content).like(pattern, escape="\\"))
            .exists()
        )
        where.append(or_(func.lower(Conversation.title).like(pattern, escape="\\"),
                         func.lower(Conversation.summary).like(pattern, escape="\\"), in_messages))
    if customer.strip():
        # the identity as the JSON column stores it: {"identity": {"subject": "<id>", ...}}
        pattern = f'%"subject": "{_like(customer.strip().lower())}%'
        where.append(func.lower(cast(Conversation.metadata_, Text)).like(pattern, escape="\\"))
    with db.session() as session:
        total = int(session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0)
        rows = session.scalars(
            select(Conversation).where(*where).order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit).offset(offset)
        ).all()
        return SearchPage([ConversationInfo.of(row) for row in rows], total)
