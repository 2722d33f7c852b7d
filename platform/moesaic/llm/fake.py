"""``FakeChatModel``: scripted replies and tool calls, shipped for tests and demos.

Each script step is a string (a plain answer), a ``ModelReply``, or a function of the request
(to answer from what the model was sent). Every request is kept in ``requests`` for assertions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from moesaic.errors import UpstreamError
from moesaic.llm.base import ChatModel, ModelReply, ModelRequest, estimate_tokens
from moesaic.types import ToolCall, Usage

ScriptStep = str | ModelReply | Callable[[ModelRequest], ModelReply] | Exception


def call(name: str, arguments: dict[str, Any] | None = None, *, call_id: str | None = None) -> ToolCall:
    """A tool call for a script: ``reply_with_tools(call("get_order_details", {"order_id": "#W1"}))``."""
    return ToolCall(id=call_id or f"call_{name}", name=name, arguments=json.dumps(arguments or {}))


def reply_with_tools(*calls: ToolCall, content: str = "") -> ModelReply:
    return ModelReply(content=content, tool_calls=tuple(calls), finish_reason="tool_calls")


class FakeChatModel(ChatModel):
    name = "fake"

    def __init__(self, script: Iterable[ScriptStep] = ()) -> None:
        self.script: list[ScriptStep] = list(script)
        self.requests: list[ModelRequest] = []

    def add(self, *steps: ScriptStep) -> None:
        self.script.extend(steps)

    def _generate(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if not self.script:
            raise UpstreamError("the fake model has no scripted reply left")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            reply = step(request)
        elif isinstance(step, str):
            reply = ModelReply(content=step)
        else:
            reply = step
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        return ModelReply(
            content=reply.content,
            tool_calls=reply.tool_calls,
            usage=Usage(prompt, estimate_tokens(reply.content)),
            finish_reason="tool_calls" if reply.tool_calls else "stop",
            model="fake",
        )
