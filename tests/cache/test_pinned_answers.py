"""Pinned answers at /v1/apps/{app}/answers (viewers read, operators change, every change audited), and what
erasing a conversation or a tenant does to the answer cache."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from moesaic.access import create_api_key
from moesaic.access.tables import AuditRecord
from moesaic.answers.tables import CachedAnswer, PinnedAnswer
from tests.cache.conftest import ask, stored, upload

QUESTION = "How long do I have to return an item?"
PINNED = "Thirty days from delivery; keep the receipt."


def _rows(platform, table, **where) -> int:  # type: ignore[no-untyped-def]
    with platform.db.session() as session:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return int(session.scalar(query) or 0)


def test_a_pinned_answer_wins_over_the_generated_one(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add("You can return items within 30 days [1].")
    ask(client, QUESTION)  # a generated answer in the cache
    response = client.post("/v1/apps/kb_assistant/answers", json={"question": QUESTION, "answer": PINNED})
    assert response.status_code == 201, response.text
    pin = response.json()
    assert pin["source"] == "pinned_answer" and pin["created_by"]
    for question in (QUESTION, "how long do i have to return an item", "How many days do I have to return an item?"):
        body = ask(client, question)
        assert body["choices"][0]["message"]["content"] == PINNED and body["citations"] == []
        assert stored(client, body["conversation_id"])[1]["metadata"]["served_from"] == "pinned_answer"
    assert len(fake_model.requests) == 1
    listed = client.get("/v1/apps/kb_assistant/answers").json()["data"]
    assert [a["source"] for a in listed] == ["pinned_answer", "answer_cache"] and listed[0]["hits"] == 3
    assert client.delete(f"/v1/apps/kb_assistant/answers/{pin['id']}").status_code == 200
    assert ask(client, QUESTION)["choices"][0]["message"]["content"].startswith("You can return items")  # cached again
    assert len(fake_model.requests) == 1


def _audited(platform) -> list[str]:  # type: ignore[no-untyped-def]
    with platform.db.session() as session:
        return list(session.scalars(select(AuditRecord.action).where(AuditRecord.action.contains("/answers"))))


def test_pinning_needs_an_operator_and_every_change_is_audited(client, platform) -> None:  # type: ignore[no-untyped-def]
    before = _audited(platform)
    viewer = create_api_key(platform.db, f"viewers-{secrets.token_hex(4)}", role="viewer")
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    assert client.get("/v1/apps/kb_assistant/answers", headers=as_viewer).status_code == 200
    refused = client.post("/v1/apps/kb_assistant/answers", headers=as_viewer, json={"question": QUESTION, "answer": PINNED})
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "role"
    created = client.post("/v1/apps/kb_assistant/answers", json={"question": QUESTION, "answer": PINNED})
    assert created.status_code == 201
    again = client.post("/v1/apps/kb_assistant/answers", json={"question": "HOW LONG do I have to return an item", "answer": "x"})
    assert again.status_code == 409 and again.json()["error"]["param"] == "question"
    assert client.post("/v1/apps/kb_assistant/answers", json={"question": "?!", "answer": "x"}).status_code == 400
    assert client.post("/v1/apps/nope/answers", json={"question": QUESTION, "answer": "x"}).status_code == 404
    assert client.delete("/v1/apps/kb_assistant/answers/unknown").status_code == 404
    assert client.delete(f"/v1/apps/kb_assistant/answers/{created.json()['id']}").status_code == 200
    actions = _audited(platform)[len(before):]
    assert actions.count("POST /v1/apps/{app}/answers") == 1 and actions.count("DELETE /v1/apps/{app}/answers/{answer_id}") == 1


def test_pinned_answers_stay_in_their_tenant(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/apps/kb_assistant/answers", json={"question": QUESTION, "answer": PINNED}).status_code == 201
    other = {"Authorization": f"Bearer {create_api_key(platform.db, f'other-{secrets.token_hex(4)}', role='operator')}"}
    assert client.get("/v1/apps/kb_assistant/answers", headers=other).json()["data"] == []
    fake_model.add("The model's answer.")
    response = client.post("/v1/chat/completions", headers=other,
                           json={"model": "kb_assistant", "messages": [{"role": "user", "content": QUESTION}]})
    assert response.json()["choices"][0]["message"]["content"] == "The model's answer."


def test_erasing_a_conversation_removes_the_answers_it_taught_the_cache(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    upload(client)
    fake_model.add("You can return items within 30 days [1].")
    first = ask(client, QUESTION)
    assert _rows(platform, CachedAnswer, conversation_id=first["conversation_id"]) == 1
    response = client.delete(f"/v1/conversations/{first['conversation_id']}")
    assert response.status_code == 200 and response.json()["removed"]["cached_answers"] == 1
    assert _rows(platform, CachedAnswer, conversation_id=first["conversation_id"]) == 0
    fake_model.add("Asked again: 30 days [1].")
    assert ask(client, QUESTION)["choices"][0]["message"]["content"] == "Asked again: 30 days [1]."


def test_erasing_a_tenant_removes_its_cached_and_pinned_answers(client, platform, fake_model) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from moesaic.api.main import create_app
    from moesaic.lifecycle import Lifecycle

    upload(client)
    fake_model.add("You can return items within 30 days [1].", "The erased tenant's answer.")
    kept = ask(client, QUESTION)
    client.post("/v1/apps/kb_assistant/answers", json={"question": "Do you ship abroad?", "answer": "Yes."})
    with TestClient(create_app(platform=platform)) as erased:  # another tenant's client, erased below
        erased.headers["Authorization"] = f"Bearer {create_api_key(platform.db, f'erased-{secrets.token_hex(4)}', role='operator')}"
        gone = ask(erased, QUESTION)
        erased.post("/v1/apps/kb_assistant/answers", json={"question": "Do you ship abroad?", "answer": "Yes."})
    with platform.db.session() as session:
        tenant = session.scalar(select(CachedAnswer.tenant_id).where(CachedAnswer.conversation_id == gone["conversation_id"]))
        mine = session.scalar(select(CachedAnswer.tenant_id).where(CachedAnswer.conversation_id == kept["conversation_id"]))
    assert tenant and mine and tenant != mine
    assert _rows(platform, CachedAnswer, tenant_id=tenant) == 1 and _rows(platform, PinnedAnswer, tenant_id=tenant) == 1
    exported = Lifecycle(platform).export_tenant(mine)["pinned_answers"]  # curated content is in the export
    assert [(p["question"], p["answer"]) for p in exported] == [("Do you ship abroad?", "Yes.")] and "embedding" not in exported[0]
    removed = Lifecycle(platform).erase_tenant(tenant, None)
    assert removed["cached_answers"] == 1 and removed["pinned_answers"] == 1
    assert _rows(platform, CachedAnswer, tenant_id=tenant) == 0 and _rows(platform, PinnedAnswer, tenant_id=tenant) == 0
    assert _rows(platform, CachedAnswer, conversation_id=kept["conversation_id"]) == 1  # the other tenant keeps its own
    assert _rows(platform, PinnedAnswer, tenant_id=mine) == 1
