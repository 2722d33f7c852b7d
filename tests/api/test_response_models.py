"""What the routes really send matches the documented models, byte for byte what they sent before.

"Before" is what each route returned when it handed the service's dicts to FastAPI unchanged
(``to_dict()`` rendered by Starlette's JSONResponse), so typed models changed no client-visible byte.
Chat bodies and stream events are validated against their models (unknown fields are refused).
"""

from __future__ import annotations

import json
from typing import Any

from moesaic import AppManifest, tool
from moesaic.api.schemas import ChatCompletion, ChatCompletionChunk, StreamError
from moesaic.errors import UpstreamTimeout
from moesaic.llm.fake import call, reply_with_tools
from tests.api.test_chat_completions import upload


def rendered(content: Any) -> bytes:
    """How Starlette's JSONResponse renders a dict (what the routes sent before they had models)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def chat(client, app: str, content: str, **extra: Any):  # type: ignore[no-untyped-def]
    return client.post("/v1/chat/completions", json={"model": app, "messages": [{"role": "user", "content": content}], **extra})


def stream(client, app: str, content: str, **extra: Any) -> list[str]:  # type: ignore[no-untyped-def]
    body = {"model": app, "stream": True, "messages": [{"role": "user", "content": content}], **extra}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def register_calculator(platform) -> None:  # type: ignore[no-untyped-def]
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    platform.apps.register(AppManifest(name="calc", title="Calculator", system_prompt="Use tools.", tools=(add,), knowledge_base=None))


def test_chat_bodies_match_the_documented_models(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    register_calculator(platform)
    document_id = upload(client)
    fake_model.add("Within 30 days [1].")
    cited = ChatCompletion.model_validate(chat(client, "kb_assistant", "return window?").json())
    assert cited.citations[0].document_id == document_id and cited.conversation_state == "active"
    assert cited.citations[0].sentences and "30 days" in cited.citations[0].sentences[0].text

    fake_model.add(reply_with_tools(call("add", {"a": 2, "b": 3})), "5")
    tools = ChatCompletion.model_validate(chat(client, "calc", "2+3?").json())
    assert [e.output for e in tools.tool_events] == ["5"] and tools.choices[0].finish_reason == "stop"

    client.post(f"/v1/conversations/{tools.conversation_id}/handoff", json={})
    silent = ChatCompletion.model_validate(chat(client, "calc", "hello?", conversation_id=tools.conversation_id).json())
    assert silent.choices[0].finish_reason == "handed_off" and silent.conversation_state == "handed_off"


def test_stream_events_match_the_documented_models(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    register_calculator(platform)
    fake_model.add(reply_with_tools(call("add", {"a": 2, "b": 3})), "It is 5.")
    events = stream(client, "calc", "2+3?", stream_options={"include_usage": True})
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(event) for event in events[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    tool_chunks = [c for c in chunks if c.moesaic_event is not None]
    assert [(c.moesaic_event.name, c.moesaic_event.output) for c in tool_chunks] == [("add", "5")]  # type: ignore[union-attr]
    final, usage = chunks[-2], chunks[-1]
    assert final.choices[0].finish_reason == "stop" and final.citations == [] and final.conversation_state == "active"
    assert usage.choices == [] and usage.usage is not None and usage.usage.total_tokens > 0


def test_a_failure_after_the_first_byte_is_an_in_band_error_in_openai_shape(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    register_calculator(platform)
    fake_model.add(reply_with_tools(call("add", {"a": 1, "b": 1})), UpstreamTimeout("the model timed out"))
    events = stream(client, "calc", "1+1?")
    assert events[-1] == "[DONE]"
    error = StreamError.model_validate_json(events[-2])
    assert (error.error.type, error.error.param, error.error.code) == ("upstream_error", None, 504)
    assert json.loads(events[-2]) == {"error": {"message": "the model timed out", "type": "upstream_error", "param": None, "code": 504}}
    ChatCompletionChunk.model_validate_json(events[0])


def test_typed_routes_send_the_same_bytes_as_before(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    register_calculator(platform)
    tenant = client.get("/v1/me").json()["tenant_id"]
    document_id = upload(client)
    fake_model.add(reply_with_tools(call("add", {"a": 2, "b": 3})), "5 [1]")
    conversation_id = chat(client, "calc", "2+3? ünïcode").json()["conversation_id"]
    store, knowledge = platform.store, platform.knowledge

    assert client.get(f"/v1/conversations/{conversation_id}").content == rendered(store.get(tenant, conversation_id).to_dict())
    assert client.get(f"/v1/conversations/{conversation_id}/messages").content == rendered({"data": store.messages(tenant, conversation_id)})
    assert client.get(f"/v1/conversations/{conversation_id}/tool-calls").content == rendered({"data": store.tool_calls(tenant, conversation_id)})
    listed = store.conversations(tenant, app="calc", limit=50)
    assert client.get("/v1/apps/calc/conversations").content == rendered({"data": [c.to_dict() for c in listed]})

    taken = client.post(f"/v1/conversations/{conversation_id}/handoff", json={"summary": "VIP"})
    assert taken.content == rendered(store.get(tenant, conversation_id).to_dict())
    claimed = client.post(f"/v1/conversations/{conversation_id}/claim")
    listed_inbox = client.get("/v1/inbox")
    waits = [{k: item[k] for k in ("waiting_since", "waiting_seconds")} for item in listed_inbox.json()["data"]]
    assert all(w["waiting_since"] for w in waits)  # claimed, not yet answered: waiting since the hand-off
    inbox = [c.to_dict() | {"operator": c.metadata.get("operator"), "customer": None} | wait
             for c, wait in zip(store.conversations(tenant, states=("handed_off", "claimed")), waits)]
    assert listed_inbox.content == rendered({"data": inbox}) and json.loads(claimed.content)["state"] == "claimed"
    reply = client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": "Sam here"})
    sent, stored = json.loads(reply.content), store.messages(tenant, conversation_id)[-1]
    assert list(sent) == list(stored)  # created_at differs: a fresh row has its time zone, SQLite drops it on read
    assert {**sent, "created_at": ""} == {**stored, "created_at": ""} and sent["created_at"].startswith(stored["created_at"])

    documents, counts = knowledge.list_documents(tenant, "default")
    assert client.get("/v1/knowledge-bases/default/documents").content == rendered({"data": [d.to_dict() for d in documents], "counts": counts})
    assert client.get(f"/v1/knowledge-bases/default/documents/{document_id}").content == rendered(
        knowledge.get_document(tenant, "default", document_id).to_dict())
    kbs = [kb | {"owner_app": platform.knowledge_base_owner(kb["name"])} for kb in knowledge.list_knowledge_bases(tenant)]
    assert client.get("/v1/knowledge-bases").content == rendered({"data": kbs})
    hits = knowledge.search(tenant, "default", "return", top_k=5, mode="hybrid")
    assert hits
    assert client.get("/v1/knowledge-bases/default/search", params={"q": "return"}).content == rendered({"data": [
        {"chunk_id": c.chunk_id, "document_id": c.document_id, "title": c.title, "text": c.text,
         "start_char": c.start_char, "end_char": c.end_char, "score": c.score} for c in hits]})

    assert client.get("/v1/models").content == rendered({"object": "list", "data": [
        {"id": app.name, "object": "model", "created": 0, "owned_by": "moesaic"} for app in platform.apps]})
    assert client.get("/v1/apps").content == rendered({"data": [
        {"name": app.name, "title": app.title, "description": app.description, "knowledge_base": app.knowledge_base,
         "tools": [t.name for t in app.tools], "write_tools": [t.name for t in app.tools if t.writes],
             "chat": app.is_chat} for app in platform.apps]})
    assert client.get("/healthz").content == rendered({"status": "ok"})
    assert client.get("/readyz").content == rendered({"status": "ready", "checks": {"database": "ok", "model": platform.model.name,
                                                                              "embedder": platform.embedder_status},
                                                      "apps": dict(platform.app_status)})


def test_an_upload_over_the_limit_is_413(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(client.app.state.platform.knowledge, "upload_limits", {"text": 8 / 2**20, "pdf": 16 / 2**20})
    response = client.post("/v1/knowledge-bases/default/documents", files={"file": ("big.txt", b"123456789", "text/plain")})
    assert response.status_code == 413
    error = response.json()["error"]
    assert "text uploads may be at most" in error["message"], error
    assert (error["type"], error["param"]) == ("invalid_request_error", "file")
