"""The OpenAI-compatible provider against scripted HTTP (httpx MockTransport): no network."""

import json

import httpx
import pytest

from moesaic.errors import UpstreamError, UpstreamTimeout
from moesaic.llm.base import ModelReply, ModelRequest
from moesaic.llm.openai_compat import OpenAIChatModel
from moesaic.tools import tool
from moesaic.types import Message


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


def completion(message: dict, finish: str = "stop") -> dict:
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def model_for(handler, retries: int = 0) -> OpenAIChatModel:  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIChatModel("http://llm.test/v1", "m", timeout_s=2, max_retries=retries, http_client=client)


REQUEST = ModelRequest(messages=[Message(role="user", content="weather in Paris?")], tools=[get_weather])


def test_tool_calls_and_reasoning_are_parsed() -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(json.loads(request.content))
        return httpx.Response(200, json=completion({
            "role": "assistant", "content": None, "reasoning_content": "think",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}],
        }, "tool_calls"))

    reply = model_for(handler).generate(REQUEST)
    assert seen["tools"][0]["function"]["name"] == "get_weather"
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    assert json.loads(reply.tool_calls[0].arguments) == {"city": "Paris"}
    assert reply.reasoning == "think" and reply.usage.total_tokens == 14


def test_streaming_assembles_text_and_tool_call_fragments() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me "}}]},
        {"choices": [{"index": 0, "delta": {"content": "check."}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": "{\"ci"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Oslo\"}"}}]}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}},
    ]
    body = "".join(f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'created': 0, 'model': 'm', **c})}\n\n" for c in chunks)
    body += "data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    items = list(model_for(handler).stream(REQUEST))
    assert items[:2] == ["Let me ", "check."]
    reply = items[-1]
    assert isinstance(reply, ModelReply)
    assert reply.content == "Let me check." and reply.tool_calls[0].arguments == '{"city": "Oslo"}'
    assert reply.usage.completion_tokens == 7


def test_timeout_becomes_upstream_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(UpstreamTimeout):
        model_for(handler).generate(REQUEST)


def test_garbage_and_server_errors_become_upstream_errors() -> None:
    with pytest.raises(UpstreamError, match="invalid response|without choices"):
        model_for(lambda r: httpx.Response(200, text="<html>oops</html>")).generate(REQUEST)
    with pytest.raises(UpstreamError, match="HTTP 500"):
        model_for(lambda r: httpx.Response(500, json={"error": {"message": "boom"}})).generate(REQUEST)


def test_retries_with_backoff_recover_from_a_transient_error() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}}, headers={"retry-after-ms": "10"})
        return httpx.Response(200, json=completion({"role": "assistant", "content": "hello"}))

    assert model_for(handler, retries=2).generate(REQUEST).content == "hello"
    assert len(calls) == 2
