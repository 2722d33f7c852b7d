"""``ConversationStore``: conversations, messages and tool calls in SQL, always scoped to a tenant.

Messages are appended with a per-conversation sequence number; the user's message is stored
before any model call, so a failed call never loses it. ``history`` returns a token-budgeted
window of the newest turns plus a short rolling summary of what fell out of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound
from moesaic.memory.tables import Conversation, MessageRecord, ToolCallRecord
from moesaic.types import Message, ToolCall, estimate_tokens

SUMMARY_CHARS_PER_TURN = 160
SUMMARY_MAX_CHARS = 1200
CONVERSATION_STATES = ("active", "handed_off", "claimed", "resolved")
INTERRUPTED = "interrupted: "  # the start of the error of an answer the model stopped giving mid-stream


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    app: str
    title: str
    state: str
    summary: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: Conversation) -> "ConversationInfo":
        return cls(
            id=row.id,
            app=row.app,
            title=row.title,
            state=row.state,
            summary=row.summary,
            metadata=dict(row.metadata_ or {}),
            created_at=row.created_at.isoformat(),
            updated_at=row.updated_at.isoformat(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "title": self.title,
            "state": self.state,
            "summary": self.summary,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def record_to_message(row: MessageRecord) -> Message:
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in row.tool_calls or [])
    return Message(role=row.role, content=row.content, tool_calls=calls, tool_call_id=row.tool_call_id, name=row.name)  # type: ignore[arg-type]


def message_to_dict(row: MessageRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "seq": row.seq,
        "role": row.role,
        "content": row.content,
        "tool_calls": row.tool_calls,
        "tool_call_id": row.tool_call_id,
        "name": row.name,
        "citations": row.citations,
        "author": row.author,
        "error": row.error,
        "interrupted": bool(row.error and row.error.startswith(INTERRUPTED)),
        "metadata": dict(row.metadata_ or {}),
        "created_at": row.created_at.isoformat(),
    }


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # conversations -------------------------------------------------------------------------
    def create(self, tenant_id: str, app: str, *, title: str = "", metadata: dict[str, Any] | None = None,
               messages: list[Message] | tuple[Message, ...] = (), turn_holder: str | None = None) -> ConversationInfo:
        """A new conversation, with ``messages`` (earlier turns a client sent) stored in the same transaction.
        ``turn_holder``: the token of the turn that made it, which holds it from the start (``memory.turns``)."""
        with self.db.session() as session:
            row = Conversation(tenant_id=tenant_id, app=app, title=title[:200], metadata_=metadata or {},
                               turn_holder=turn_holder, turn_renewed_at=utcnow() if turn_holder else None)
            session.add(row)
            session.flush()
            for seq, message in enumerate(messages, start=1):
                session.add(MessageRecord(tenant_id=tenant_id, conversation_id=row.id, seq=seq, role=message.role,
                                          content=message.content, author=_default_author(message.role)))
                if not row.title and message.role == "user":
                    row.title = message.content[:80]
            session.flush()
            return ConversationInfo.of(row)

    def last_seq(self, tenant_id: str, conversation_id: str) -> int:
        """The sequence number of the conversation's newest message (0: none)."""
        with self.db.session() as session:
            conversation = self._row(session, tenant_id, conversation_id)
            return int(session.scalar(select(func.max(MessageRecord.seq)).where(MessageRecord.conversation_id == conversation.id)) or 0)

    def get(self, tenant_id: str, conversation_id: str) -> ConversationInfo:
        with self.db.session() as session:
            return ConversationInfo.of(self._row(session, tenant_id, conversation_id))

    def conversations(self, tenant_id: str, *, app: str | None = None, states: tuple[str, ...] = (), limit: int = 100,
                      apps: tuple[str, ...] | None = None) -> list[ConversationInfo]:
        """Newest first; ``apps`` keeps only those apps' conversations (None: every app)."""
        query = select(Conversation).where(Conversation.tenant_id == tenant_id)
        if app:
            query = query.where(Conversation.app == app)
        if apps is not None:
            query = query.where(Conversation.app.in_(apps))
        if states:
            query = query.where(Conversation.state.in_(states))
        query = query.order_by(Conversation.updated_at.desc()).limit(limit)
        with self.db.session() as session:
            return [ConversationInfo.of(row) for row in session.scalars(query)]

    def update(self, tenant_id: str, conversation_id: str, **changes: Any) -> ConversationInfo:
        """Change title, state, summary or metadata; the version column guards concurrent writers."""
        with self.db.session() as session:
            row = self._row(session, tenant_id, conversation_id)
            values = {("metadata_" if k == "metadata" else k): v for k, v in changes.items()}
            result = session.execute(
                update(Conversation)
                .where(Conversation.id == row.id, Conversation.version == row.version)
                .values(**values, version=row.version + 1, updated_at=utcnow())
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("the conversation was changed by someone else; retry", field="conversation_id")
            session.flush()
            session.refresh(row)
            return ConversationInfo.of(row)

    def update_metadata(self, tenant_id: str, conversation_id: str, **values: Any) -> ConversationInfo:
        """Set some keys of the conversation's metadata, keeping the others (a value of None removes the key)."""
        metadata = self.get(tenant_id, conversation_id).metadata
        for key, value in values.items():
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        return self.update(tenant_id, conversation_id, metadata=metadata)

    @staticmethod
    def _row(session: Any, tenant_id: str, conversation_id: str) -> Conversation:
        row = session.get(Conversation, conversation_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"conversation {conversation_id!r} not found", field="conversation_id")
        return row

    # messages ------------------------------------------------------------------------------
    def append(
        self,
        tenant_id: str,
        conversation_id: str,
        message: Message,
        *,
        author: str = "",
        citations: list[dict[str, Any]] | None = None,
        error: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        for _attempt in range(5):
            try:
                with self.db.session() as session:
                    conversation = self._row(session, tenant_id, conversation_id)
                    seq = (session.scalar(select(func.max(MessageRecord.seq)).where(MessageRecord.conversation_id == conversation.id)) or 0) + 1
                    row = MessageRecord(
                        tenant_id=tenant_id,
                        conversation_id=conversation.id,
                        seq=seq,
                        role=message.role,
                        content=message.content,
                        tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls] or None,
                        tool_call_id=message.tool_call_id,
                        name=message.name,
                        citations=citations,
                        author=author or _default_author(message.role),
                        error=error,
                        prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens,
                        metadata_=metadata or None,
                    )
                    session.add(row)
                    if not conversation.title and message.role == "user":
                        conversation.title = message.content[:80]
                    conversation.updated_at = utcnow()
                    session.flush()
                    return message_to_dict(row)
            except IntegrityError:  # another writer took this seq: take the next one
                continue
        raise Conflict("could not append the message after 5 attempts", field="conversation_id")

    def messages(self, tenant_id: str, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            self._row(session, tenant_id, conversation_id)
            rows = session.scalars(
                select(MessageRecord).where(MessageRecord.conversation_id == conversation_id).order_by(MessageRecord.seq)
            )
            return [message_to_dict(row) for row in rows]

    def history(self, tenant_id: str, conversation_id: str, token_budget: int) -> list[Message]:
        """The newest messages that fit ``token_budget``, never splitting a tool call from its results.

        Older user/assistant turns are condensed into one system message (a rolling summary).
        """
        with self.db.session() as session:
            self._row(session, tenant_id, conversation_id)
            rows = list(
                session.scalars(
                    select(MessageRecord)
                    .where(MessageRecord.conversation_id == conversation_id, MessageRecord.error.is_(None))
                    .order_by(MessageRecord.seq)
                )
            )
        kept: list[MessageRecord] = []
        used = 0
        index = len(rows) - 1
        while index >= 0:
            # a block: an assistant message with tool calls and the tool results that follow it
            end = index
            while index > 0 and rows[index].role == "tool":
                index -= 1
            block = rows[index : end + 1]
            cost = sum(estimate_tokens(r.content) + 8 for r in block)
            if kept and used + cost > token_budget:
                break
            kept[:0] = block
            used += cost
            index -= 1
        dropped = rows[: len(rows) - len(kept)]
        window = [record_to_message(r) for r in kept if r.role != "system"]
        summary = _summarize(dropped)
        if summary:
            window.insert(0, Message(role="system", content="Earlier in this conversation:\n" + summary))
        return window

    def record_tool_call(
        self, tenant_id: str, conversation_id: str, call: ToolCall, output: str, error: str | None, duration_ms: float
    ) -> None:
        with self.db.session() as session:
            session.add(
                ToolCallRecord(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    call_id=call.id,
                    name=call.name,
                    arguments=call.arguments,
                    output=output,
                    error=error,
                    duration_ms=duration_ms,
                )
            )

    def tool_calls(self, tenant_id: str, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            self._row(session, tenant_id, conversation_id)
            rows = session.scalars(
                select(ToolCallRecord).where(ToolCallRecord.conversation_id == conversation_id).order_by(ToolCallRecord.created_at)
            )
            return [
                {"id": r.call_id, "name": r.name, "arguments": r.arguments, "output": r.output, "error": r.error}
                for r in rows
            ]


def _default_author(role: str) -> str:
    return {"user": "customer", "assistant": "bot", "tool": "tool"}.get(role, role)


def _summarize(rows: list[MessageRecord]) -> str:
    """A deterministic rolling summary: the start of each older user and assistant turn.

    Each turn gets an equal share of the budget, so the first turns (often the user's name and
    goal) survive as well as the latest ones; if even that is too long, the middle is elided.
    """
    turns = [" ".join(r.content.split()) for r in rows if r.role in ("user", "assistant") and r.content.strip()]
    roles = [r.role for r in rows if r.role in ("user", "assistant") and r.content.strip()]
    if not turns:
        return ""
    share = max(40, min(SUMMARY_CHARS_PER_TURN, SUMMARY_MAX_CHARS // len(turns)))
    lines = []
    for role, text in zip(roles, turns):
        if len(text) > share:
            text = text[:share].rsplit(" ", 1)[0] + " ..."
        lines.append(f"- {role}: {text}")
    if sum(len(line) + 1 for line in lines) > SUMMARY_MAX_CHARS:
        keep = max(2, SUMMARY_MAX_CHARS // (2 * (share + 12)))
        lines = [*lines[:keep], f"- ({len(lines) - 2 * keep} more turns)", *lines[-keep:]]
    return "\n".join(lines)
