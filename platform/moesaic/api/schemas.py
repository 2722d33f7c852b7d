"""Request and response bodies of the REST API (separate from the tables on purpose)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion body; ``model`` names the app. Unknown OpenAI fields are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    conversation_id: str | None = Field(default=None, max_length=64)
    knowledge_base: str | None = Field(default=None, max_length=100)

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        if messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        if not messages[-1].text().strip():
            raise ValueError("the last user message must not be empty")
        return messages


class ConversationCreate(BaseModel):
    title: str = Field(default="", max_length=200)


class OperatorMessage(BaseModel):
    content: str = Field(min_length=1, max_length=20000)


class HandoffRequest(BaseModel):
    summary: str = Field(default="An operator took over the conversation.", max_length=4000)
