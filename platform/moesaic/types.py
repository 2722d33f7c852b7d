"""The small vocabulary that flows through the core: messages, tool calls, chunks, citations.

Frameworks (langchain, llama-index, chromadb) never appear here; adapters convert at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A model's request to run one tool. ``arguments`` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A retrieved passage with where it came from."""

    chunk_id: str
    document_id: str
    text: str
    start_char: int
    end_char: int
    score: float = 0.0
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentenceSpan:
    """One sentence of a source document: ``document_text[start_char:end_char] == text``."""

    start_char: int
    end_char: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"start_char": self.start_char, "end_char": self.end_char, "text": self.text}


@dataclass(frozen=True)
class Citation:
    """A pointer from an answer into a source document (character offsets into its text).

    ``start_char``/``end_char`` span the retrieved chunk; ``sentences`` are the sentences of that chunk
    the answer rests on (empty when the answer does not say which).
    """

    index: int
    document_id: str
    chunk_id: str
    start_char: int
    end_char: int
    title: str
    quote: str
    sentences: tuple[SentenceSpan, ...] = ()

    @classmethod
    def from_chunk(cls, index: int, chunk: Chunk, quote_chars: int = 300) -> "Citation":
        return cls(
            index=index,
            document_id=chunk.document_id,
            chunk_id=chunk.chunk_id,
            start_char=chunk.start_char,
            end_char=chunk.end_char,
            title=chunk.title,
            quote=chunk.text[:quote_chars],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "document_id": self.document_id,
            "chunk_id": self.chunk_id,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "title": self.title,
            "quote": self.quote,
            "sentences": [s.to_dict() for s in self.sentences],
        }


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
