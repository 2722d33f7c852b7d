"""Finding 8 of issue 16: a model service that hangs or fails. The caller hears within the configured timeout
(not after minutes), the error says what failed, and text already streamed when the model fails is stored,
marked as interrupted. Against a real HTTP server that misbehaves (``fake_upstream``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from moesaic.config import Settings
from moesaic.llm.openai_compat import OpenAIChatModel
from tests.reliability.fake_upstream import PIECES, FakeUpstream, fake_upstream

TIMEOUT_S = 1.0


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


def _use(client, upstream: FakeUpstream, behaviour: str) -> None:  # type: ignore[no-untyped-def]
    client.app.state.platform.model = OpenAIChatModel(upstream.url(behaviour), "m", timeout_s=TIMEOUT_S, max_retries=1,
                                                      tool_mode="native")


def _chat(client, stream: bool = False):  # type: ignore[no-untyped-def]
    return client.post("/v1/chat/completions", json={"model": "kb_assistant", "stream": stream,
                                                     "messages": [{"role": "user", "content": "what is covered?"}]})


def _events(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def _stored(client, conversation_id: str) -> list[dict]:  # type: ignore[type-arg,no-untyped-def]
    return list(client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"])


def _only_conversation(client) -> str:  # type: ignore[no-untyped-def]
    conversations = client.get("/v1/apps/kb_assistant/conversations").json()["data"]
    assert len(conversations) == 1
    return str(conversations[0]["id"])


def test_the_default_timeout_fits_interactive_use() -> None:
    settings = Settings()
    assert settings.llm_timeout_s <= 30  # one deadline for the whole call, retries included


@pytest.mark.parametrize("stream", [False, True])
def test_a_hung_model_is_a_504_within_the_timeout_naming_what_failed(client, upstream, stream: bool) -> None:  # type: ignore[no-untyped-def]
    _use(client, upstream, "hang")
    started = time.monotonic()
    response = _chat(client, stream)
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert elapsed < TIMEOUT_S + 2, f"took {elapsed:.1f} s with a {TIMEOUT_S} s timeout"
    error = response.json()["error"]
    assert error["code"] == "UpstreamTimeout"
    assert error["message"] == (f"model 'm' did not start answering within {TIMEOUT_S:g} s (MOESAIC_LLM_TIMEOUT_S); "
                                "the model service is overloaded, stuck or too slow for this request")
    assert "127.0.0.1" not in error["message"]  # the endpoint's address stays in the server log
    assert upstream.hits["hang"] == 1  # a timeout is not retried: the deadline is spent
    stored = _stored(client, _only_conversation(client))
    assert [m["role"] for m in stored] == ["user", "assistant"] and stored[1]["interrupted"] is False


def test_server_errors_are_retried_within_the_deadline_then_named(client, upstream) -> None:  # type: ignore[no-untyped-def]
    _use(client, upstream, "error")
    response = _chat(client)
    assert response.status_code == 502
    assert response.json()["error"]["message"] == "model 'm' answered HTTP 500: boom (after 2 attempts)"
    assert upstream.hits["error"] == 2


@pytest.mark.parametrize(("behaviour", "code", "wording"), [
    ("break", 502, "the stream from model 'm' broke off after 15 characters of its answer ("),
    ("stall", 504, "model 'm' stopped sending for 1 s after 15 characters of its answer (MOESAIC_LLM_TIMEOUT_S)"),
])
def test_text_streamed_before_the_model_failed_is_stored_marked_interrupted(  # type: ignore[no-untyped-def]
        client, upstream, behaviour: str, code: int, wording: str) -> None:
    _use(client, upstream, behaviour)
    started = time.monotonic()
    response = _chat(client, stream=True)
    assert response.status_code == 200 and time.monotonic() - started < TIMEOUT_S + 2
    events = _events(response.text)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")) == "".join(PIECES)
    error = events[-1]["error"]
    assert error["code"] == code and error["message"].startswith(wording), error
    assert error["message"].endswith("the answer is incomplete")
    assert response.text.endswith("data: [DONE]\n\n")
    stored = _stored(client, events[0]["conversation_id"])
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == "".join(PIECES) and stored[1]["interrupted"] is True
    assert stored[1]["error"].startswith("interrupted: " + wording)


def test_a_healthy_stream_is_stored_whole(client, upstream) -> None:  # type: ignore[no-untyped-def]
    _use(client, upstream, "ok")
    events = _events(_chat(client, stream=True).text)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    stored = _stored(client, events[0]["conversation_id"])
    assert stored[1]["content"] == "".join(PIECES).strip() or stored[1]["content"] == "".join(PIECES)
    assert stored[1]["error"] is None and stored[1]["interrupted"] is False
