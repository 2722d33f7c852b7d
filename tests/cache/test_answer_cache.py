"""The answer cache end to end through the API (SQLite, and PostgreSQL when MOESAIC_TEST_DATABASE_URL is set):
repeated first-turn questions are answered without a model call, exact and near-duplicate; anything else goes
to the model (another question, a changed knowledge base or prompt, tools, personal data, a follow-up)."""

from __future__ import annotations

import secrets

from moesaic.llm.fake import call, reply_with_tools
from tests.cache.conftest import SHOP, ask, stored, upload

QUESTION = "How long do I have to return an item?"
ANSWER = "You can return items within 30 days of delivery [1]."


def test_a_repeated_question_is_answered_from_the_cache_without_a_model_call(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    document_id = upload(client)
    fake_model.add(ANSWER)
    first = ask(client, QUESTION)
    assert len(fake_model.requests) == 1 and first["citations"][0]["document_id"] == document_id
    again = ask(client, "  how long do I have to RETURN an item  ")  # case, spacing and punctuation aside
    assert len(fake_model.requests) == 1  # no second model call (the script is empty: one would fail)
    assert again["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert again["citations"] == first["citations"] and again["conversation_id"] != first["conversation_id"]
    messages = stored(client, again["conversation_id"])  # memory keeps the question and the answer, marked
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["metadata"]["served_from"] == "answer_cache" and messages[1]["metadata"]["match"] == "exact"
    assert messages[1]["citations"] == first["citations"]
    assert stored(client, first["conversation_id"])[1]["metadata"] == {}  # the model's own answer
    metrics = client.get("/metrics").text
    assert 'moesaic_answer_cache_lookups_total{app="kb_assistant",outcome="cache_exact"} 1.0' in metrics
    assert 'moesaic_answer_cache_lookups_total{app="kb_assistant",outcome="miss"} 1.0' in metrics
    assert 'moesaic_answer_cache_saved_model_seconds_total{app="kb_assistant"}' in metrics


def test_a_near_duplicate_question_is_answered_from_the_cache(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER)
    ask(client, QUESTION)
    again = ask(client, "How many days do I have to return an item?")
    assert len(fake_model.requests) == 1 and again["choices"][0]["message"]["content"] == ANSWER
    assert stored(client, again["conversation_id"])[1]["metadata"]["match"] == "near"


def test_a_streamed_repeat_is_served_from_the_cache(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER)
    ask(client, QUESTION)
    with client.stream("POST", "/v1/chat/completions", json={
            "model": "kb_assistant", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}) as response:
        text = "".join(response.iter_text())
    assert response.status_code == 200 and "30 days" in text and text.rstrip().endswith("data: [DONE]")
    assert len(fake_model.requests) == 1


def test_a_different_question_goes_to_the_model(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER, "No, gift cards cannot be exchanged for cash [1].")
    ask(client, QUESTION)
    other = ask(client, "Can gift cards be exchanged for cash?")
    assert len(fake_model.requests) == 2 and other["choices"][0]["message"]["content"].startswith("No, gift cards")


def test_uploading_a_document_invalidates_the_cached_answers(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER, "Now 60 days [1].")
    ask(client, QUESTION)
    upload(client, "returns-2027.txt", b"From 2027, items can be returned within 60 days of delivery.")
    again = ask(client, QUESTION)
    assert len(fake_model.requests) == 2 and again["choices"][0]["message"]["content"] == "Now 60 days [1]."


def test_changing_the_apps_prompt_invalidates_the_cached_answers(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER, "Thirty days [1].")
    ask(client, QUESTION)
    app = platform.apps.get("kb_assistant")
    platform.apps.register(app.model_copy(update={"system_prompt": "Answer in as few words as you can."}))
    again = ask(client, QUESTION)
    assert len(fake_model.requests) == 2 and again["choices"][0]["message"]["content"] == "Thirty days [1]."


def test_turns_that_call_tools_are_never_cached(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        fake_model.add(reply_with_tools(call("order_status", {"order_id": "#W1"})), "Order #W1 is pending.")
        body = ask(client, "What is the status of order #W1?", model=SHOP.name)
        assert body["tool_events"] and body["choices"][0]["message"]["content"] == "Order #W1 is pending."
    assert len(fake_model.requests) == 4  # both turns ran the model and the tool
    assert client.get("/v1/apps/shop/answers").json()["data"] == []


def test_questions_with_personal_data_are_neither_looked_up_nor_stored(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    question = "I am jane.doe@example.com: how long do I have to return an item?"
    fake_model.add(ANSWER, ANSWER)
    ask(client, question)
    ask(client, question)
    assert len(fake_model.requests) == 2
    assert client.get("/v1/apps/kb_assistant/answers").json()["data"] == []
    assert 'moesaic_answer_cache_bypassed_total{app="kb_assistant",reason="personal_data"} 2.0' in client.get("/metrics").text


def test_follow_up_turns_go_to_the_model(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add(ANSWER, "It depends on the item.", "Thirty days, as I said [1].")
    first = ask(client, QUESTION)
    ask(client, "And for shoes?", conversation_id=first["conversation_id"])
    third = ask(client, QUESTION, conversation_id=first["conversation_id"])  # asked again later in a conversation
    assert len(fake_model.requests) == 3 and third["choices"][0]["message"]["content"] == "Thirty days, as I said [1]."


def test_tenants_never_share_cached_answers(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    upload(client)
    fake_model.add(ANSWER, "Another tenant's answer.")
    ask(client, QUESTION)
    other = create_api_key(platform.db, f"another-{secrets.token_hex(4)}")
    response = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {other}"},
                           json={"model": "kb_assistant", "messages": [{"role": "user", "content": QUESTION}]})
    assert response.json()["choices"][0]["message"]["content"] == "Another tenant's answer."
    assert len(fake_model.requests) == 2


def test_an_app_can_turn_its_cache_off(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic.answers import AnswerCachePolicy

    app = platform.apps.get("kb_assistant")
    platform.apps.register(app.model_copy(update={"answer_cache": AnswerCachePolicy(enabled=False)}))
    fake_model.add(ANSWER, ANSWER)
    ask(client, QUESTION)
    ask(client, QUESTION)
    assert len(fake_model.requests) == 2


def test_removing_a_document_invalidates_the_cached_answers(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    extra = upload(client, "shipping.txt", b"Shipping takes 3 to 5 business days.")
    fake_model.add(ANSWER, "Again from the model [1].")
    ask(client, QUESTION)
    assert client.delete(f"/v1/knowledge-bases/default/documents/{extra}").status_code == 204
    assert ask(client, QUESTION)["choices"][0]["message"]["content"] == "Again from the model [1]."
    assert len(fake_model.requests) == 2


def test_cached_answers_expire_after_their_ttl(client, platform, settings, fake_model) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from moesaic.db import utcnow

    upload(client)
    fake_model.add(ANSWER, "Fresh from the model [1].")
    ask(client, QUESTION)
    platform.answers.clock = lambda: utcnow() + timedelta(seconds=settings.answer_cache_ttl_s + 1)
    assert ask(client, QUESTION)["choices"][0]["message"]["content"] == "Fresh from the model [1]."


def test_a_failing_cache_leaves_the_answer_to_the_model(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    def broken_embedder():  # type: ignore[no-untyped-def]
        raise RuntimeError("embedder down")

    platform.answers._embedder = broken_embedder
    fake_model.add(ANSWER)
    assert ask(client, QUESTION)["choices"][0]["message"]["content"] == ANSWER
    assert 'moesaic_answer_cache_bypassed_total{app="kb_assistant",reason="error"} 1.0' in client.get("/metrics").text
