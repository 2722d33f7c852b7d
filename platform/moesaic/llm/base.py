"""The ``ChatModel`` interface: messages and tools in, a message (maybe with tool calls) out.

``generate`` and ``stream`` are the public template methods (timing, validation, the ``max_tokens``
budget); a provider implements ``_generate`` and, if it can stream natively, ``_stream``. Nothing here
knows HTTP.
"""

from __future__ import annotations

import time
from dataclasses import replace
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from dataclasses import dataclass, field

from moesaic.llm.offline import OfflineBehaviour
from moesaic.tools.spec import ToolSpec
from moesaic.types import Chunk, Message, ToolCall, Usage, estimate_tokens


@dataclass(frozen=True)
class ModelRequest:
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    passages: Sequence[Chunk] = ()  # retrieved context, already rendered into the messages too
    offline: OfflineBehaviour = field(default_factory=OfflineBehaviour)  # used by the extractive model only
    temperature: float | None = None
    max_tokens: int | None = None
    # The conversation's offline dialogue state and authenticated subject (moesaic.identity), for models
    # that keep a dialogue themselves (the extractive model with an app's ``OfflineBehaviour.dialogue``).
    dialogue_state: Mapping[str, Any] = field(default_factory=dict)
    identity: str | None = None


@dataclass(frozen=True)
class ModelReply:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    reasoning: str = ""
    finish_reason: str = "stop"
    model: str = ""
    latency_s: float = 0.0
    dialogue_state: Mapping[str, Any] | None = None  # the new dialogue state to keep (None: unchanged)

    def as_message(self) -> Message:
        return Message(role="assistant", content=self.content, tool_calls=self.tool_calls)


StreamItem = str | ModelReply  # text deltas, then exactly one final ModelReply
CHARS_PER_TOKEN = 4  # as ``estimate_tokens`` counts


class ChatModel(ABC):
    """A chat model provider. ``name`` identifies the provider in metrics and responses.

    A provider that does not stop at ``max_tokens`` itself (``honours_max_tokens`` false) has its text
    cut here at ``max_tokens`` estimated tokens, with ``finish_reason="length"``, as OpenAI does.
    """

    name: str = "model"
    honours_max_tokens: bool = False

    def generate(self, request: ModelRequest) -> ModelReply:
        assert request.messages, "a model request needs at least one message"
        started = time.perf_counter()
        reply = self._within_budget(self._generate(request), self._char_budget(request))
        return _with_latency(reply, time.perf_counter() - started)

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        assert request.messages, "a model request needs at least one message"
        started = time.perf_counter()
        budget = self._char_budget(request)
        num_sent = 0
        final: ModelReply | None = None
        for item in self._stream(request):
            if isinstance(item, ModelReply):
                final = item
            elif budget is None:
                yield item
            elif num_sent < budget:  # the deltas add up to the final reply's (cut) content
                piece = item[: budget - num_sent]
                num_sent += len(piece)
                yield piece
        assert final is not None, f"{type(self).__name__}._stream ended without a ModelReply"
        yield _with_latency(self._within_budget(final, budget), time.perf_counter() - started)

    def _char_budget(self, request: ModelRequest) -> int | None:
        if request.max_tokens is None or self.honours_max_tokens:
            return None
        return request.max_tokens * CHARS_PER_TOKEN

    @staticmethod
    def _within_budget(reply: ModelReply, budget: int | None) -> ModelReply:
        if budget is None or len(reply.content) <= budget:
            return reply
        content = reply.content[:budget]
        return replace(reply, content=content, finish_reason="length",
                       usage=Usage(reply.usage.prompt_tokens, estimate_tokens(content)))

    @abstractmethod
    def _generate(self, request: ModelRequest) -> ModelReply: ...

    def _stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        """Default: generate, then hand out the text in word-sized pieces."""
        reply = self._generate(request)
        yield from split_for_streaming(reply.content)
        yield reply


STREAM_PIECE_CHARS = 64  # a reply already written is streamed in pieces of about this size, cut after a space


def split_for_streaming(text: str, min_chars: int = STREAM_PIECE_CHARS) -> Iterator[str]:
    """``text`` in pieces of at least ``min_chars`` (the last may be shorter), each ending after a space or a
    newline. Every piece is one event through the API's thread pool and one SSE chunk: word-sized pieces
    made a 60-word answer 60 hops, most of a streamed turn's cost under load (docs/BENCHMARKS.md)."""
    start = 0
    for index, char in enumerate(text):
        if char in " \n" and index + 1 - start >= min_chars:
            yield text[start : index + 1]
            start = index + 1
    if start < len(text):
        yield text[start:]


def _with_latency(reply: ModelReply, seconds: float) -> ModelReply:
    return replace(reply, latency_s=seconds)


__all__ = ["ChatModel", "ModelReply", "ModelRequest", "StreamItem", "estimate_tokens", "split_for_streaming"]
