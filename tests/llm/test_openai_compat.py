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


def model_for(handler, retries: int = 0, tool_mode: str = "native") -> OpenAIChatModel:  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIChatModel("http://llm.test/v1", "m", timeout_s=2, max_retries=retries, http_client=client, tool_mode=tool_mode)  # type: ignore[arg-type]


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


def test_probe_keeps_native_tool_calls_when_the_endpoint_returns_them() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        name = body["tools"][0]["function"]["name"]
        return httpx.Response(200, json=completion({"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": name, "arguments": "{}"}}]}, "tool_calls"))

    model = model_for(handler, tool_mode="auto")
    model.generate(REQUEST)
    model.generate(REQUEST)
    assert model.tool_mode == "native"
    assert [b["tools"][0]["function"]["name"] for b in bodies] == ["echo", "get_weather", "get_weather"]  # one probe


def test_probe_falls_back_to_json_react_when_tool_calls_come_back_as_text() -> None:
    bodies = []
    replies = iter([
        '<｜tool▁calls▁begin｜>echo',  # the probe: a broken parser leaks the raw template
        '```json\n{"tool": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '{"answer": "It is sunny in Paris."}',
    ])

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=completion({"role": "assistant", "content": next(replies)}))

    model = model_for(handler, tool_mode="auto")
    first = model.generate(REQUEST)
    assert model.tool_mode == "react"
    assert "tools" not in bodies[1] and "get_weather" in bodies[1]["messages"][0]["content"]
    assert [(c.name, json.loads(c.arguments)) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]

    follow_up = ModelRequest(messages=[
        Message("user", "weather in Paris?"),
        Message("assistant", "", tool_calls=first.tool_calls),
        Message("tool", "sunny", tool_call_id=first.tool_calls[0].id, name="get_weather"),
    ], tools=[get_weather])
    second = model.generate(follow_up)
    assert second.content == "It is sunny in Paris." and not second.tool_calls
    assert bodies[2]["messages"][-1] == {"role": "user", "content": "Observation from get_weather: sunny"}
