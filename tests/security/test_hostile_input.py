"""Finding 2 of issue 16: schema-valid but hostile input is a 4xx naming the field, never a 5xx, and
leaves nothing behind; every error, unexpected ones included, has OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

USER = {"role": "user", "content": "hello"}


@pytest.fixture
def http(platform, api_key) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client that sees what a real caller sees: a server error is a response, not a raised exception."""
    from moesaic.api.main import create_app

    with TestClient(create_app(platform=platform), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {api_key}"
        yield client


def _post_chat(http: TestClient, messages_json: str) -> dict:  # type: ignore[type-arg]
    body = '{"model": "kb_assistant", "messages": ' + messages_json + "}"
    response = http.post("/v1/chat/completions", content=body.encode(), headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return {"status": response.status_code, **response.json()}


def _conversations(http: TestClient) -> list[dict]:  # type: ignore[type-arg]
    return http.get("/v1/apps/kb_assistant/conversations").json()["data"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ('[{"role": "user", "content": [{"type": "text", "text": 42}]}]', "messages.0.content"),
        ('[{"role": "user", "content": [{"type": "text", "text": {"a": 1}}]}, ' + json.dumps(USER) + "]", "messages.0.content"),
        ('[{"role": "assistant", "content": [{"type": "text", "text": ["x"]}]}, ' + json.dumps(USER) + "]", "messages.0.content"),
        ('[{"role": "user", "content": "broken \\ud800 pair"}]', "messages.0.content"),
        ('[{"role": "user", "content": "earlier \\udfff"}, ' + json.dumps(USER) + "]", "messages.0.content"),
        ('[{"role": "user", "content": [{"type": "text", "text": "part \\ud83d"}]}]', "messages.0.content"),
        ('[{"role": "user", "content": "nul \\u0000 byte"}]', "messages.0.content"),
        ('[{"role": "assistant", "content": "nul \\u0000"}, ' + json.dumps(USER) + "]", "messages.0.content"),
    ],
    ids=["part-int", "earlier-part-dict", "assistant-part-list", "surrogate", "earlier-surrogate", "part-surrogate",
         "nul", "earlier-nul"],
)
def test_unstorable_message_is_422_naming_the_field_and_stores_nothing(http, messages: str, field: str) -> None:  # type: ignore[no-untyped-def]
    body = _post_chat(http, messages)
    assert body["status"] == 422
    assert body["error"]["param"] == field and field in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"
    assert _conversations(http) == []


def test_nul_in_conversation_id_is_a_4xx_in_openai_shape(http) -> None:  # type: ignore[no-untyped-def]
    """The gate looks the conversation up before the body is validated: SQLite finds nothing (404),
    PostgreSQL refuses the value (400, not 500)."""
    response = http.post("/v1/chat/completions", json={"model": "kb_assistant", "messages": [USER], "conversation_id": "a\x00b"})
    assert response.status_code in (400, 404, 422), response.text
    assert response.json()["error"]["type"] in ("invalid_request_error", "not_found_error")


def test_valid_surrogate_pairs_and_text_parts_are_stored(http, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("ok")
    body = '{"model": "kb_assistant", "messages": [{"role": "user", "content": [{"type": "text", "text": "tea \\ud83c\\udf75?"}]}]}'
    response = http.post("/v1/chat/completions", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    messages = http.get(f"/v1/conversations/{response.json()['conversation_id']}/messages").json()["data"]
    assert messages[0]["content"] == "tea \U0001f375?"


def test_filename_over_500_characters_is_400_naming_the_file(http) -> None:  # type: ignore[no-untyped-def]
    name = "a" * 501 + ".txt"
    response = http.post("/v1/knowledge-bases/default/documents", files={"file": (name, b"some text", "text/plain")})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "file" and "500" in response.json()["error"]["message"]
    assert http.get("/v1/knowledge-bases").json()["data"] == []


def test_unexpected_error_has_the_openai_shape(http, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(RuntimeError("a bug in a dependency"))
    response = http.post("/v1/chat/completions", json={"model": "kb_assistant", "messages": [USER]})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "server_error" and "RuntimeError" in error["message"]
    assert "a bug in a dependency" not in error["message"]  # internals stay in the log
