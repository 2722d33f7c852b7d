"""``OpenAIChatModel``: any OpenAI-compatible endpoint (Moesaic's engine, vLLM, SGLang, DeepSeek).

Timeouts and retries with exponential backoff come from the openai SDK (``max_retries``); every
failure is mapped to ``UpstreamTimeout`` (504) or ``UpstreamError`` (502) with a readable reason.
DeepSeek's ``reasoning_content`` is kept apart from the answer. With ``tool_mode="auto"`` the first
request that carries tools is preceded by a probe: if the endpoint does not return a real tool
call for an obvious one, this model switches to the JSON ReAct protocol (``llm.react``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

import openai

from moesaic.errors import UpstreamError, UpstreamTimeout
from moesaic.llm.base import ChatModel, ModelReply, ModelRequest, StreamItem, split_for_streaming
from moesaic.llm.react import parse_react_reply, to_react_messages
from moesaic.types import Message, ToolCall, Usage

log = logging.getLogger(__name__)
ToolMode = Literal["auto", "native", "react"]
PROBE_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "echo",
        "description": "Echo a word back.",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
}


def to_openai_messages(messages: list[Message] | tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
        if message.role == "tool":
            item["tool_call_id"] = message.tool_call_id
        out.append(item)
    return out


class OpenAIChatModel(ChatModel):
    name = "openai"
    honours_max_tokens = True  # sent upstream; the endpoint stops and says "length" itself

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        http_client: Any = None,
        tool_mode: ToolMode = "auto",
    ) -> None:
        self.model = model
        self.tool_mode: ToolMode = tool_mode
        self._probe_lock = threading.Lock()
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
            http_client=http_client,
        )

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(list(request.messages))}
        if request.tools:
            params["tools"] = [t.openai_schema() for t in request.tools]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        return params

    def uses_native_tools(self) -> bool:
        """Probe once (in ``auto`` mode) whether the endpoint returns real tool calls."""
        with self._probe_lock:
            if self.tool_mode == "auto":
                with _upstream_errors(self.model):
                    response = self.client.chat.completions.create(
                        model=self.model,
                        messages=[{"role": "user", "content": "Call the tool echo with the word 'ping'."}],
                        tools=[PROBE_TOOL],
                        max_tokens=64,
                    )
                choices = getattr(response, "choices", None) or []
                calls = (choices[0].message.tool_calls or []) if choices and choices[0].message else []
                native = any(getattr(c, "function", None) is not None and c.function.name == "echo" for c in calls)
                self.tool_mode = "native" if native else "react"
                if not native:
                    log.warning("model %r returned no tool call for the probe; using the JSON ReAct protocol", self.model)
            return self.tool_mode == "native"

    def _react(self, request: ModelRequest) -> ModelReply:
        messages = to_react_messages(list(request.messages), request.tools)
        plain = replace(request, messages=messages, tools=())
        reply = self._complete(plain)
        call_id = f"call_{abs(hash((reply.content, len(messages)))) % 10**10}"
        content, calls = parse_react_reply(reply.content, {t.name for t in request.tools}, call_id)
        return replace(reply, content=content, tool_calls=calls, finish_reason="tool_calls" if calls else reply.finish_reason)

    def _generate(self, request: ModelRequest) -> ModelReply:
        if request.tools and not self.uses_native_tools():
            return self._react(request)
        return self._complete(request)

    def _complete(self, request: ModelRequest) -> ModelReply:
        with _upstream_errors(self.model):
            response = self.client.chat.completions.create(**self._params(request))
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise UpstreamError(f"model {self.model!r} returned a response without choices")
        message = choices[0].message
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in (message.tool_calls or [])
            if getattr(c, "function", None) is not None
        )
        extra = message.model_extra or {}
        usage = response.usage
        return ModelReply(
            content=message.content or "",
            tool_calls=calls,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            reasoning=extra.get("reasoning_content") or "",
            finish_reason=choices[0].finish_reason or "stop",
            model=response.model or self.model,
        )

    def _stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        if request.tools and not self.uses_native_tools():
            reply = self._react(request)  # the JSON must be complete before we know what it is
            yield from split_for_streaming(reply.content)
            yield reply
            return
        params = self._params(request) | {"stream": True, "stream_options": {"include_usage": True}}
        content: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        finish = "stop"
        with _upstream_errors(self.model):
            for chunk in self.client.chat.completions.create(**params):
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                delta = choice.delta
                if delta is None:
                    continue
                extra = delta.model_extra or {}
                if extra.get("reasoning_content"):
                    reasoning.append(extra["reasoning_content"])
                for piece in delta.tool_calls or []:
                    slot = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = piece.id or slot["id"]
                    if piece.function is not None:
                        slot["name"] += piece.function.name or ""
                        slot["arguments"] += piece.function.arguments or ""
                if delta.content:
                    content.append(delta.content)
                    yield delta.content
        tool_calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}")
            for i, s in sorted(calls.items())
        )
        yield ModelReply(
            content="".join(content),
            tool_calls=tool_calls,
            usage=usage,
            reasoning="".join(reasoning),
            finish_reason=finish,
            model=self.model,
        )


class _upstream_errors:
    """Map the SDK's exceptions (and garbage bodies) to the platform's upstream errors."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return None
        if isinstance(exc, openai.APITimeoutError):
            raise UpstreamTimeout(f"model {self.model!r} timed out") from exc
        if isinstance(exc, openai.APIStatusError):
            raise UpstreamError(f"model {self.model!r} answered HTTP {exc.status_code}: {exc.message}") from exc
        if isinstance(exc, openai.APIConnectionError):
            raise UpstreamError(f"model {self.model!r} is unreachable: {exc}") from exc
        if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError, AttributeError, TypeError, KeyError)):
            raise UpstreamError(f"model {self.model!r} returned an invalid response: {exc}") from exc
        return None
