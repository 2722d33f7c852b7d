"""``OpenAIChatModel``: any OpenAI-compatible endpoint (Moesaic's engine, vLLM, SGLang, DeepSeek).

One deadline per call (``timeout_s``, ``MOESAIC_LLM_TIMEOUT_S``) covers the wait for the answer to start,
retries included: a refused connection, a 429 or a 5xx is retried with exponential backoff while time is
left (``max_retries``), a timeout is not. Streamed, the same timeout bounds the silence between two pieces.
Every failure becomes ``UpstreamTimeout`` (504) or ``UpstreamError`` (502) whose message says what failed:
no answer in time, an HTTP status, an unreachable service, a malformed response, or a stream that broke
off (with how much of the answer had come).
DeepSeek's ``reasoning_content`` is kept apart from the answer. With ``tool_mode="auto"`` the first
request that carries tools is preceded by a probe: if the endpoint does not return a real tool
call for an obvious one, this model switches to the JSON ReAct protocol (``llm.react``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

import httpx
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
        timeout_s: float = 30.0,
        max_retries: int = 2,
        http_client: Any = None,
        tool_mode: ToolMode = "auto",
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.tool_mode: ToolMode = tool_mode
        self._probe_lock = threading.Lock()
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=_timeouts(timeout_s),
            max_retries=0,  # retried here, within the call's deadline
            http_client=http_client,
        )

    def _create(self, **params: Any) -> Any:
        """``chat.completions.create`` within one deadline of ``timeout_s``: transient failures (no
        connection, 429, 5xx) are retried with backoff while time is left; a timeout is final."""
        deadline = time.monotonic() + self.timeout_s
        for attempt in range(self.max_retries + 1):
            remaining = deadline - time.monotonic()
            try:
                with self._errors():
                    return self.client.with_options(timeout=_timeouts(max(remaining, 0.001))).chat.completions.create(**params)
            except UpstreamError as exc:
                cause = exc.__cause__
                transient = isinstance(cause, (openai.RateLimitError, openai.InternalServerError)) or (
                    isinstance(cause, openai.APIConnectionError) and not isinstance(cause, openai.APITimeoutError))
                pause = min(0.5 * 2**attempt, 8.0)
                if not transient or attempt == self.max_retries or time.monotonic() + pause >= deadline:
                    if attempt:
                        raise type(exc)(f"{exc} (after {attempt + 1} attempts)") from cause
                    raise
                log.warning("model %r at %s: %s; retrying in %.1f s", self.model, self.base_url, exc, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _errors(self, streamed_chars: int | None = None) -> "_upstream_errors":
        return _upstream_errors(self.model, self.timeout_s, streamed_chars)

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
                response = self._create(
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
        response = self._create(**self._params(request))
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
        chunks = iter(self._create(**params))
        num_chars = 0
        while True:
            with self._errors(streamed_chars=num_chars):
                chunk = next(chunks, None)
            if chunk is None:
                break
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
                num_chars += len(delta.content)
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


def _timeouts(seconds: float) -> Any:  # an httpx.Timeout (the SDK's stubs name another httpx module)
    """``seconds`` for the answer to start (and between two streamed pieces); a connection gets 5 s at most."""
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


class _upstream_errors:
    """Map the SDK's and httpx's exceptions (and garbage bodies) to the platform's upstream errors, saying
    what failed. ``streamed_chars``: the call is reading a stream that already gave this much text. The
    messages name the model, never the endpoint's address (that is in the server log)."""

    def __init__(self, model: str, timeout_s: float, streamed_chars: int | None = None) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.streamed = streamed_chars

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return None
        name = f"model {self.model!r}"
        timed_out = isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException))
        if self.streamed is not None and isinstance(exc, (openai.APIError, httpx.HTTPError)):
            so_far = f"after {self.streamed} characters of its answer" if self.streamed else "before any text"
            if timed_out:
                raise UpstreamTimeout(f"{name} stopped sending for {self.timeout_s:g} s {so_far} "
                                      "(MOESAIC_LLM_TIMEOUT_S); the answer is incomplete") from exc
            raise UpstreamError(f"the stream from {name} broke off {so_far} ({_reason(exc)}); the answer is incomplete") from exc
        if timed_out:
            raise UpstreamTimeout(f"{name} did not start answering within {self.timeout_s:g} s (MOESAIC_LLM_TIMEOUT_S); "
                                  "the model service is overloaded, stuck or too slow for this request") from exc
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = str(body.get("message") or exc.message.removeprefix(f"Error code: {exc.status_code} - "))[:500]
            raise UpstreamError(f"{name} answered HTTP {exc.status_code}: {detail}") from exc
        if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
            raise UpstreamError(f"the model service for {name} is unreachable ({_reason(exc)})") from exc
        if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError, AttributeError, TypeError, KeyError)):
            raise UpstreamError(f"{name} returned an invalid response: {exc}") from exc
        return None


def _reason(exc: BaseException) -> str:
    """The lowest-level cause's words (``connection refused``, ``peer closed connection...``)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__
