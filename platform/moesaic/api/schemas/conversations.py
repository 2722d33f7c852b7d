"""Bodies of the conversation, message, tool-call and inbox routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from moesaic.api.schemas.common import ResponseModel

ConversationState = Literal["active", "handed_off", "claimed", "resolved"]


class ConversationCreate(BaseModel):
    title: str = Field(default="", max_length=200)


class OperatorMessage(BaseModel):
    content: str = Field(min_length=1, max_length=20000)


class HandoffRequest(BaseModel):
    summary: str = Field(default="An operator took over the conversation.", max_length=4000)


class ConversationOut(ResponseModel):
    id: str
    app: str
    title: str = Field(description="The first user message (cut to 80 characters) unless set on creation.")
    state: ConversationState = Field(
        description="'active': the bot answers; 'handed_off': waiting in the inbox; 'claimed': an operator "
        "has it; 'resolved': closed (the bot picks it up again if the customer writes)."
    )
    summary: str = Field(description="A rolling summary of older turns, or the hand-off summary.")
    created_at: str
    updated_at: str


class ConversationList(ResponseModel):
    data: list[ConversationOut]


class InboxItem(ConversationOut):
    operator: str | None = Field(description="The name of the operator who claimed it, or null while it waits.")
    customer: str | None = Field(default=None, description="The conversation's authenticated customer (the "
                                 "identity's subject, e.g. a user id), or null before anyone authenticated.")
    waiting_since: str | None = Field(default=None, description="Since when the customer has waited for a person: "
                                      "their first unanswered message, else the hand-off; null when nobody waits.")
    waiting_seconds: int | None = Field(default=None, description="Seconds from `waiting_since` to now.")


class InboxList(ResponseModel):
    data: list[InboxItem]


class ConversationPage(ResponseModel):
    """One page of a conversation search, newest first."""

    data: list[InboxItem]
    total: int = Field(description="How many conversations match, over all pages.")
    limit: int
    offset: int
    has_more: bool = Field(description="True when a later page (offset + limit) has more.")


class StoredToolCall(ResponseModel):
    id: str
    name: str
    arguments: str


class SentenceSpan(ResponseModel):
    """One sentence of a cited document: ``text`` is the document's text between the offsets."""

    start_char: int
    end_char: int
    text: str


class Citation(ResponseModel):
    """A passage an answer cites: ``[index]`` in the text points here (offsets into the document's text)."""

    index: int
    document_id: str
    chunk_id: str
    start_char: int = Field(description="Start of the retrieved chunk.")
    end_char: int = Field(description="End of the retrieved chunk.")
    title: str
    quote: str = Field(description="The chunk's text, cut to 300 characters.")
    sentences: list[SentenceSpan] = Field(
        default_factory=list,
        description="The sentences of the chunk the answer rests on, in document order; empty when the answer does "
        "not say (and on citations stored before sentence-level citations, which are sent with it empty).",
    )


class MessageOut(ResponseModel):
    id: str
    seq: int = Field(description="Position in the conversation, from 1.")
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[StoredToolCall] | None
    tool_call_id: str | None
    name: str | None
    citations: list[Citation] | None
    author: str = Field(description="'customer', 'bot', 'operator' or 'tool'.")
    error: str | None = Field(description="Set when the model call for this turn failed.")
    interrupted: bool = Field(default=False, description="The model failed mid-stream: ``content`` is the part of the "
                              "answer the client had already received; ``error`` says what failed.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Where the message came from when no model "
                                     "wrote it this turn: `served_from` is 'answer_cache' (a cached answer, with "
                                     "`cache_entry`) or 'pinned_answer' (an operator's pinned answer, with `pinned_answer`).")
    created_at: str


class MessageList(ResponseModel):
    data: list[MessageOut]


class ToolCallOut(ResponseModel):
    """A tool the agent ran: what the model asked for and what came back."""

    id: str
    name: str
    arguments: str = Field(description="The JSON arguments the model wrote.")
    output: str = Field(description="What the tool returned (or the error text the model saw).")
    error: str | None = Field(description="Set when the call failed.")


class ToolCallList(ResponseModel):
    data: list[ToolCallOut]
