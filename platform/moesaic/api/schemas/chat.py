"""Bodies of ``POST /v1/chat/completions``: OpenAI's shapes plus Moesaic's extensions.

Extensions: the request's ``conversation_id`` and ``knowledge_base``; the response's
``conversation_id``, ``conversation_state``, ``citations`` and ``tool_events``; the finish reasons
``handed_off`` and ``out_of_scope``; stream chunks that carry ``conversation_id``, tool activity as
``moesaic_event`` and, on the last chunk, ``citations`` and ``conversation_state``. The route builds
its JSON itself (the stream must stay byte-compatible); these models document it and the tests
validate real responses against them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from moesaic.api.schemas.common import ErrorDetail, ResponseModel
from moesaic.api.schemas.conversations import Citation, ConversationState, ToolCallOut
from moesaic.config import get_settings
from moesaic.json_numbers import NotBoolean

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON decodes valid pairs; any surrogate left is lone


def check_storable_text(value: str) -> str:
    """Refuse text no database can store: NUL characters (PostgreSQL) and lone surrogates (not UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    if _LONE_SURROGATE.search(value):
        raise ValueError("must not contain lone UTF-16 surrogates (such as \\ud800 without its pair)")
    return value

FinishReason = Literal["stop", "length", "content_filter", "handed_off", "out_of_scope"]
FINISH_REASON_DOC = (
    "'stop', 'length' and 'content_filter' as in OpenAI's API ('length' also when the agent hit its step "
    "limit; a model's 'tool_calls' ends as 'stop' because the tools already ran). Moesaic adds "
    "'handed_off' (a person took the conversation over; the reply says so) and 'out_of_scope' (the app "
    "declined a question outside its scope without calling the model)."
)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    @field_validator("content")
    @classmethod
    def _storable(cls, content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        num_chars = 0
        if isinstance(content, str):
            num_chars = len(check_storable_text(content))
        for index, part in enumerate(content if isinstance(content, list) else []):
            if part.get("type") == "text":
                text = part.get("text", "")
                if not isinstance(text, str):
                    raise ValueError(f"part {index}: 'text' must be a string, not {type(text).__name__}")
                try:
                    num_chars += len(check_storable_text(text))
                except ValueError as exc:
                    raise ValueError(f"part {index}: 'text' {exc}") from None
        limit = get_settings().max_message_chars
        if num_chars > limit:
            raise ValueError(f"the message has {num_chars} characters; the limit is {limit} (MOESAIC_MAX_MESSAGE_CHARS)")
        return content

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion body; ``model`` names the app. Unknown OpenAI fields are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="The app to talk to (see GET /v1/models).")
    messages: list[ChatMessageIn] = Field(min_length=1, description="The last message must be a non-empty user message.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[float | None, NotBoolean] = Field(default=None, ge=0, le=2)
    max_tokens: Annotated[int | None, NotBoolean] = Field(default=None, ge=1)
    conversation_id: str | None = Field(
        default=None,
        max_length=64,
        description="Moesaic: continue this stored conversation (only the last message is new). Without it, "
        "a conversation is created from the messages sent.",
    )
    knowledge_base: str | None = Field(
        default=None, max_length=100, description="Moesaic: search this knowledge base instead of the app's own."
    )

    @field_validator("model", "conversation_id", "knowledge_base")
    @classmethod
    def _storable_names(cls, value: str | None) -> str | None:
        return None if value is None else check_storable_text(value)

    @field_validator("max_tokens")
    @classmethod
    def _bounded_max_tokens(cls, value: int | None) -> int | None:
        limit = get_settings().max_tokens_limit
        if value is not None and value > limit:
            raise ValueError(f"max_tokens may be at most {limit} (MOESAIC_MAX_TOKENS_LIMIT), not {value}")
        return value

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        limit = get_settings().max_messages
        if len(messages) > limit:
            raise ValueError(f"{len(messages)} messages sent; the limit is {limit} (MOESAIC_MAX_MESSAGES)")
        if messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        if not messages[-1].text().strip():
            raise ValueError("the last user message must not be empty")
        return messages


class Usage(ResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(ResponseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(ResponseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason = Field(description=FINISH_REASON_DOC)


class ChatCompletion(ResponseModel):
    """The answer when ``stream`` is false."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str = Field(description="The app that answered.")
    choices: list[ChatChoice]
    usage: Usage
    conversation_id: str = Field(description="Moesaic: the stored conversation; send it back to continue.")
    conversation_state: ConversationState = Field(description="Moesaic: the conversation's state after this turn.")
    citations: list[Citation] = Field(description="Moesaic: the passages the answer cites.")
    tool_events: list[ToolCallOut] = Field(description="Moesaic: the tools run during this turn, in order.")


class ChunkDelta(ResponseModel):
    role: Literal["assistant"] | None = Field(default=None, description="Only on the first chunk.")
    content: str | None = None


class ChunkChoice(ResponseModel):
    index: int
    delta: ChunkDelta
    finish_reason: FinishReason | None = Field(description="Set on the final chunk only. " + FINISH_REASON_DOC)


class ToolCallEvent(ResponseModel):
    """Moesaic: a tool the agent ran, sent as it finishes (``moesaic_event`` of a chunk with an empty delta)."""

    type: Literal["tool_call"]
    id: str
    name: str
    arguments: str = Field(description="The JSON arguments the model wrote.")
    output: str = Field(description="What the tool returned (or the error text the model saw).")
    error: str | None


class ChatCompletionChunk(ResponseModel):
    """One ``data:`` event of a streamed answer. In order: a first chunk (``delta.role``), text chunks
    (``delta.content``), tool chunks (``moesaic_event``) between them, one final chunk (``finish_reason``,
    ``citations``, ``conversation_state``), with ``stream_options.include_usage`` a usage chunk (empty
    ``choices``), then the line ``data: [DONE]``. Fields marked Moesaic appear only where said."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice] = Field(description="One choice; empty on the usage chunk.")
    usage: Usage | None = Field(default=None, description="Only on the usage chunk.")
    conversation_id: str = Field(description="Moesaic: on every chunk.")
    moesaic_event: ToolCallEvent | None = Field(default=None, description="Moesaic: only on tool chunks.")
    citations: list[Citation] | None = Field(default=None, description="Moesaic: only on the final chunk.")
    conversation_state: ConversationState | None = Field(default=None, description="Moesaic: only on the final chunk.")


class StreamError(ResponseModel):
    """A failure after the stream started, sent in-band (as OpenAI does) before ``data: [DONE]``;
    ``code`` is the HTTP status the error would have had (502, 504, 500)."""

    error: ErrorDetail
