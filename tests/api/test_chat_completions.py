"""The OpenAI-compatible chat endpoint through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from moesaic.errors import UpstreamError, UpstreamTimeout
from moesaic.llm.fake import call, reply_with_tools

RETURNS = (
    b"Returns policy\n\nItems can be returned within 30 days of delivery for a full refund.\n\n"
    b"Gift cards cannot be returned or exchanged for cash."
)


def upload(client, kb: str = "default", name: str = "returns.txt", data: bytes = RETURNS) -> str:  # type: ignore[no-untyped-def]
    response = client.post(f"/v1/knowledge-bases/{kb}/documents", files={"file": (name, data, "text/plain")})
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    client.app.state.platform.knowledge.wait([document_id], timeout=60)
    status = client.get(f"/v1/knowledge-bases/{kb}/documents/{document_id}").json()
    assert status["status"] == "indexed", status
    return document_id


def chat(client, content: str, **extra):  # type: ignore[no-untyped-def]
    return client.post("/v1/chat/completions", json={"model": "kb_assistant", "messages": [{"role": "user", "content": content}], **extra})


def test_answer_cites_the_uploaded_document(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    document_id = upload(client)
    fake_model.add("You can return items within 30 days [1].")
    response = chat(client, "How long do I have to return an item?")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "You can return items within 30 days [1]."
    assert body["citations"][0]["document_id"] == document_id
    assert "30 days" in body["citations"][0]["quote"]
    citation = body["citations"][0]
    assert RETURNS.decode()[citation["start_char"] : citation["end_char"]].startswith(citation["quote"][:40])
    system_prompt = fake_model.requests[0].messages[0].content
    assert "[1] returns.txt" in system_prompt and "30 days" in system_prompt
    [sentence] = citation["sentences"]  # the sentence the answer rests on, exactly sliced from the document
    assert sentence["text"] == "Items can be returned within 30 days of delivery for a full refund."
    assert RETURNS.decode()[sentence["start_char"] : sentence["end_char"]] == sentence["text"]


def test_offline_answers_cite_the_sentences_they_quote(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.llm.extractive import ExtractiveModel

    upload(client)
    platform.model = ExtractiveModel()
    body = chat(client, "Can gift cards be returned for cash?").json()
    [citation] = body["citations"]
    assert [s["text"] for s in citation["sentences"]] == ["Gift cards cannot be returned or exchanged for cash."]
    sentence = citation["sentences"][0]
    assert RETURNS.decode()[sentence["start_char"] : sentence["end_char"]] == sentence["text"]
    stored = client.get(f"/v1/conversations/{body['conversation_id']}/messages").json()["data"][-1]
    assert stored["citations"][0]["sentences"] == citation["sentences"]


def test_conversation_id_continues_the_stored_conversation(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("Nice to meet you, Ada.", "Your name is Ada.")
    first = chat(client, "My name is Ada.").json()
    second = chat(client, "What is my name?", conversation_id=first["conversation_id"]).json()
    assert second["conversation_id"] == first["conversation_id"]
    seen = [(m.role, m.content) for m in fake_model.requests[1].messages]
    assert ("user", "My name is Ada.") in seen and ("assistant", "Nice to meet you, Ada.") in seen
    messages = client.get(f"/v1/conversations/{first['conversation_id']}/messages").json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


def test_streaming_sends_deltas_then_citations_and_done(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    document_id = upload(client)
    fake_model.add("Within 30 days [1].")
    with client.stream("POST", "/v1/chat/completions", json={
        "model": "kb_assistant", "stream": True, "messages": [{"role": "user", "content": "return window?"}],
    }) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Within 30 days [1]."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"][0]["document_id"] == document_id
    assert len({c["conversation_id"] for c in chunks}) == 1


def test_tool_calls_are_run_stored_and_reported(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic import AppManifest, tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    calc = AppManifest(name="calc", title="Calculator", system_prompt="Use tools.", tools=(add,), knowledge_base=None)
    platform.apps.register(calc)
    fake_model.add(reply_with_tools(call("add", {"a": 2, "b": "x"}, call_id="bad")),
                   reply_with_tools(call("add", {"a": 2, "b": 3}, call_id="good")), "2 + 3 = 5")
    body = client.post("/v1/chat/completions", json={"model": "calc", "messages": [{"role": "user", "content": "2+3?"}]}).json()
    assert body["choices"][0]["message"]["content"] == "2 + 3 = 5"
    assert [e["output"] for e in body["tool_events"]][1] == "5"
    assert "b: Input should be a valid integer" in body["tool_events"][0]["output"]
    third_request = fake_model.requests[2].messages
    assert [m.content for m in third_request if m.role == "tool"][-1] == "5"
    stored = client.get(f"/v1/conversations/{body['conversation_id']}/tool-calls").json()["data"]
    assert [(c["name"], c["error"] is None) for c in stored] == [("add", False), ("add", True)]


def test_step_limit_stops_a_looping_model(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    limit = platform.settings.agent_max_steps
    fake_model.add(*[reply_with_tools(call("nope", {}, call_id=f"c{i}")) for i in range(limit)])
    body = chat(client, "loop").json()
    assert f"stopped after {limit} steps" in body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(("error", "status"), [(UpstreamError("model returned garbage"), 502), (UpstreamTimeout("model timed out"), 504)])
def test_model_failure_is_a_clear_error_and_keeps_the_message(client, fake_model, error, status) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(error)
    response = chat(client, "please keep me")
    assert response.status_code == status
    assert response.json()["error"]["type"] == "upstream_error"
    conversations = client.get("/v1/apps/kb_assistant/conversations").json()["data"]
    messages = client.get(f"/v1/conversations/{conversations[0]['id']}/messages").json()["data"]
    assert messages[0]["role"] == "user" and messages[0]["content"] == "please keep me"
    assert messages[1]["error"] == str(error)


def test_missing_or_wrong_key_is_401(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/apps", headers={"Authorization": ""}).status_code == 401
    response = client.get("/v1/apps", headers={"Authorization": "Bearer msk-wrong"})
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_other_tenants_conversation_is_404(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    fake_model.add("hello")
    conversation_id = chat(client, "hi").json()["conversation_id"]
    other = {"Authorization": f"Bearer {create_api_key(platform.db, 'someone-else')}"}
    assert client.get(f"/v1/conversations/{conversation_id}/messages", headers=other).status_code == 404
    response = client.post("/v1/chat/completions", headers=other, json={
        "model": "kb_assistant", "conversation_id": conversation_id, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 404 and response.json()["error"]["param"] == "conversation_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "kb_assistant"}, "messages"),
        ({"model": "kb_assistant", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"model": "kb_assistant", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
        ({"model": "kb_assistant", "messages": [{"role": "assistant", "content": "x"}]}, "messages"),
    ],
)
def test_malformed_body_is_422_naming_the_field(client, body, field) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["param"] == field
    assert field in response.json()["error"]["message"]


def test_unknown_app_lists_the_valid_ones(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 404
    assert "kb_assistant" in response.json()["error"]["message"]


def test_models_apps_conversations_and_metrics(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["kb_assistant"]
    assert client.get("/v1/apps").json()["data"][0]["knowledge_base"] == "default"
    created = client.post("/v1/apps/kb_assistant/conversations", json={"title": "Returns"})
    assert created.status_code == 201
    listed = client.get("/v1/apps/kb_assistant/conversations").json()["data"]
    assert [c["title"] for c in listed] == ["Returns"]
    fake_model.add("ok")
    chat(client, "hello", conversation_id=created.json()["id"])
    metrics = client.get("/metrics").text
    assert 'moesaic_chat_requests_total{app="kb_assistant",outcome="ok"} 1.0' in metrics
    assert 'moesaic_tokens_total{app="kb_assistant",kind="completion"}' in metrics
    assert client.get("/readyz").json()["checks"]["database"] == "ok"


def test_metrics_report_the_ingestion_queue(platform, client) -> None:  # type: ignore[no-untyped-def]
    platform.knowledge.stop()  # nothing ingests: the upload stays queued
    response = client.post("/v1/knowledge-bases/default/documents", files={"file": ("a.txt", b"queued text", "text/plain")})
    assert response.json()["status"] == "queued"
    assert "moesaic_ingestion_queue_depth 1.0" in client.get("/metrics").text


def test_reranking_with_the_model_reorders_passages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.access import ensure_tenant
    from moesaic.services import Platform

    model = FakeChatModel()
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}", rerank_with_model=True)
    platform = Platform.create(settings, model=model, apps={APP.name: APP})
    tenant = ensure_tenant(platform.db)
    ids = [platform.knowledge.add_document(tenant, "default", f"{name}.txt", text.encode()).id for name, text in (
        ("tea", "Green tea is brewed at 80 degrees for two minutes."),
        ("coffee", "Coffee is brewed at 93 degrees; tea lovers may disagree."),
    )]
    platform.knowledge.wait(ids)
    def grade_coffee_highest(request):  # type: ignore[no-untyped-def]
        from moesaic.llm.base import ModelReply

        prompt = request.messages[0].content
        coffee_first = prompt.index("Coffee") < prompt.index("Green tea")
        return ModelReply(content="[1]: 9\n[2]: 0" if coffee_first else "[1]: 0\n[2]: 9")

    model.add(grade_coffee_highest)
    top = platform.knowledge.search(tenant, "default", "how is tea brewed", top_k=2)
    assert top[0].title == "coffee.txt"  # the model graded coffee higher, whatever the fused order was
    assert "Rate how well each passage answers the query" in model.requests[0].messages[0].content
    platform.close()


def test_a_key_limited_to_some_apps_sees_and_uses_only_those(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    limited = {"Authorization": f"Bearer {create_api_key(platform.db, 'scoped-tenant', apps=['other_app'])}"}
    assert client.get("/v1/models", headers=limited).json()["data"] == []
    response = client.post("/v1/chat/completions", headers=limited,
                           json={"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 403 and response.json()["error"]["param"] == "model"


def test_unknown_knowledge_base_is_a_404_naming_the_field(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client, kb="manuals")
    response = chat(client, "How long do I have to return an item?", knowledge_base="manualz")
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["param"] == "knowledge_base" and "manualz" in error["message"] and "manuals" in error["message"]
    assert fake_model.requests == []


def test_conversation_remembers_its_knowledge_base(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client, kb="manuals")
    fake_model.add("Within 30 days [1].", "Gift cards cannot be returned [1].")
    first = chat(client, "How long do I have to return an item?", knowledge_base="manuals").json()
    second = chat(client, "Can gift cards be returned?", conversation_id=first["conversation_id"]).json()
    assert second["citations"] and second["citations"][0]["title"] == "returns.txt"
    assert "returns.txt" in fake_model.requests[1].messages[0].content  # searched 'manuals', not 'default'
    from moesaic.memory.tables import Conversation

    with platform.db.session() as session:  # stored with the conversation, so it survives a restart
        assert session.get(Conversation, first["conversation_id"]).metadata_["knowledge_base"] == "manuals"


def stream_chat(client, content: str, **extra):  # type: ignore[no-untyped-def]
    body = {"model": "kb_assistant", "stream": True, "messages": [{"role": "user", "content": content}], **extra}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200, response.read()
        lines = [line for line in response.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]
    chunks = [json.loads(line[6:]) for line in lines]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks), chunks[-1]


def test_not_found_answers_carry_no_sources(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.llm.extractive import NOTHING_FOUND, ExtractiveModel

    upload(client)
    platform.model = ExtractiveModel()
    body = chat(client, "What colour is the moon tonight?").json()
    assert NOTHING_FOUND in body["choices"][0]["message"]["content"]
    assert body["citations"] == []


@pytest.mark.parametrize("stream", [False, True])
def test_citation_numbers_are_dense_in_text_and_sources(client, fake_model, stream) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    upload(client, name="shipping.txt", data=b"Shipping\n\nOrders ship within two business days. Express costs 15 dollars.")
    fake_model.add("Orders ship in two days [2]. Returns take 30 days [2][1].")
    if stream:
        text, last = stream_chat(client, "shipping and returns?")
        citations = last["citations"]
    else:
        body = chat(client, "shipping and returns?").json()
        text, citations = body["choices"][0]["message"]["content"], body["citations"]
    system = fake_model.requests[0].messages[0].content
    second_title = system.split("[2] ", 1)[1].split("\n", 1)[0]
    assert text == "Orders ship in two days [1]. Returns take 30 days [1][2]."
    assert [c["index"] for c in citations] == [1, 2] and citations[0]["title"] == second_title
    messages = client.get(f"/v1/conversations/{last['conversation_id'] if stream else body['conversation_id']}/messages").json()["data"]
    assert messages[-1]["content"] == text and [c["index"] for c in messages[-1]["citations"]] == [1, 2]


def test_max_tokens_truncates_the_answer_with_finish_reason_length(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.llm.extractive import ExtractiveModel

    upload(client)
    platform.model = ExtractiveModel()
    body = chat(client, "How long do I have to return an item?", max_tokens=5).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert len(body["choices"][0]["message"]["content"]) <= 20 and body["usage"]["completion_tokens"] <= 5
    text, last = stream_chat(client, "How long do I have to return an item?", max_tokens=5)
    assert last["choices"][0]["finish_reason"] == "length"
    assert text == body["choices"][0]["message"]["content"]
    whole = chat(client, "How long do I have to return an item?").json()
    assert whole["choices"][0]["finish_reason"] == "stop" and whole["choices"][0]["message"]["content"].startswith(text)


def test_client_defined_tools_are_refused_naming_the_field(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    response = chat(client, "weather in Paris?", tools=tools)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "tools" and "tools" in error["message"]
    assert fake_model.requests == []
    fake_model.add("Hello.")
    assert chat(client, "hi", tools=[]).status_code == 200  # an empty list asks for nothing


def test_offline_answers_find_html_table_rows_and_json_fields(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.llm.extractive import ExtractiveModel
    from tests.retrieval.test_readers import SHIPPING_TABLE, SUPPORT_JSON

    upload(client, name="support.json", data=SUPPORT_JSON)
    upload(client, name="rates.html", data=SHIPPING_TABLE)
    platform.model = ExtractiveModel()
    hours = chat(client, "What are your support hours on Saturday?").json()
    assert "support_hours.saturday: 10:00-14:00" in hours["choices"][0]["message"]["content"]
    assert "support_hours.saturday: 10:00-14:00" in [s["text"] for c in hours["citations"] for s in c["sentences"]]
    rates = chat(client, "How much is express shipping to Asia?").json()["choices"][0]["message"]["content"]
    assert "Region: Asia | Standard: 9 dollars | Express: 25 dollars" in rates


def test_streamed_citation_numbers_agree_across_tool_steps(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    upload(client, name="shipping.txt", data=b"Shipping\n\nOrders ship within two business days. Express costs 15 dollars.")
    fake_model.add(reply_with_tools(call("nope", {}), content="Ships in two days [2]."), "Returns take 30 days [1].")
    text, last = stream_chat(client, "shipping and returns?")
    assert text == "Ships in two days [1].Returns take 30 days [2]."
    messages = client.get(f"/v1/conversations/{last['conversation_id']}/messages").json()["data"]
    assert messages[-1]["content"] == "Ships in two days [1].\n\nReturns take 30 days [2]."
    assert [c["index"] for c in last["citations"]] == [1, 2]
