"""The ``ChatModel`` interface: messages and tools in, a message (maybe with tool calls) out.

``generate`` and ``stream`` are the public template methods (timing, validation); a provider
implements ``_generate`` and, if it can stream natively, ``_stream``. Nothing here knows HTTP.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
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


@dataclass(frozen=True)
class ModelReply:
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    reasoning: str = ""
    finish_reason: str = "stop"
    model: str = ""
    latency_s: float = 0.0

    def as_message(self) -> Message:
        return Message(role="assistant", content=self.content, tool_calls=self.tool_calls)


StreamItem = str | ModelReply  # text deltas, then exactly one final ModelReply


class ChatModel(ABC):
    """A chat model provider. ``name`` identifies the provider in metrics and responses."""

    name: str = "model"

    def generate(self, request: ModelRequest) -> ModelReply:
        assert request.messages, "a model request needs at least one message"
        started = time.perf_counter()
        reply = self._generate(request)
        return _with_latency(reply, time.perf_counter() - started)

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        assert request.messages, "a model request needs at least one message"
        started = time.perf_counter()
        final: ModelReply | None = None
        for item in self._stream(request):
            if isinstance(item, ModelReply):
                final = item
            else:
                yield item
        assert final is not None, f"{type(self).__name__}._stream ended without a ModelReply"
        yield _with_latency(final, time.perf_counter() - started)

    @abstractmethod
    def _generate(self, request: ModelRequest) -> ModelReply: ...

    def _stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        """Default: generate, then hand out the text in word-sized pieces."""
        reply = self._generate(request)
        yield from split_for_streaming(reply.content)
        yield reply


def split_for_streaming(text: str) -> Iterator[str]:
    start = 0
    for index, char in enumerate(text):
        if char in " \n":
            yield text[start : index + 1]
            start = index + 1
    if start < len(text):
        yield text[start:]


def _with_latency(reply: ModelReply, seconds: float) -> ModelReply:
    from dataclasses import replace

    return replace(reply, latency_s=seconds)


__all__ = ["ChatModel", "ModelReply", "ModelRequest", "StreamItem", "estimate_tokens", "split_for_streaming"]
