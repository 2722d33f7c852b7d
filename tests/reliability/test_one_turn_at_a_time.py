"""Finding 5 of issue 16: concurrent turns on one conversation. One turn runs at a time; every other request
is a 409 with ``Retry-After`` that stored nothing; an ``Idempotency-Key`` makes a client's retry safe.
Runs on SQLite and PostgreSQL (the ``client`` fixture is parametrised over both)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moesaic.errors import UpstreamError
from moesaic.llm.base import ModelReply, ModelRequest

CHAT = "/v1/chat/completions"


class TurnProbe:
    """A model step that counts how many turns are inside the model at once, and can hold them."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold_s = hold_s

    def __call__(self, request: ModelRequest) -> ModelReply:
        with self.lock:
            self.inside += 1
            self.calls += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.set()
        try:
            if self.hold_s:
                time.sleep(self.hold_s)
            else:
                assert self.release.wait(30), "the test never let the held turn go"
            question = next(m.content for m in reversed(request.messages) if m.role == "user")
            return ModelReply(content=f"answer to {question}")
        finally:
            with self.lock:
                self.inside -= 1


def _start(client, fake_model) -> str:  # type: ignore[no-untyped-def]
    fake_model.add("hello")
    response = client.post(CHAT, json={"model": "kb_assistant", "messages": [{"role": "user", "content": "first"}]})
    assert response.status_code == 200, response.text
    return str(response.json()["conversation_id"])


def _turn(client, conversation_id: str, text: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(CHAT, headers=headers, json={
        "model": "kb_assistant", "conversation_id": conversation_id, "messages": [{"role": "user", "content": text}]})


def _streamed_text(stream: str) -> str:
    chunks = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def _messages(client, conversation_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    data = response.json()
    return list(data["data"] if isinstance(data, dict) else data)


def test_a_second_turn_while_one_runs_is_409_and_stores_nothing(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    conversation = _start(client, fake_model)
    probe = TurnProbe()
    fake_model.add(probe)
    with ThreadPoolExecutor(max_workers=12) as pool:
        held = pool.submit(_turn, client, conversation, "the held question")
        assert probe.entered.wait(30), "the first turn never reached the model"
        refused = list(pool.map(lambda i: _turn(client, conversation, f"concurrent {i}"), range(10)))
        probe.release.set()
        answered = held.result(timeout=60)
    assert answered.status_code == 200, answered.text
    for response in refused:
        assert response.status_code == 409, response.text
        assert response.headers["Retry-After"] == "1"
        error = response.json()["error"]
        assert error["type"] == "conflict_error" and error["param"] == "conversation_id"
        assert "nothing of this request was stored" in error["message"]
    texts = [(m["role"], m["content"]) for m in _messages(client, conversation)]
    assert texts == [("user", "first"), ("assistant", "hello"), ("user", "the held question"),
                     ("assistant", "answer to the held question")]
    assert probe.calls == 1
    # the conversation is free again: the next turn runs
    fake_model.add("later")
    assert _turn(client, conversation, "after").status_code == 200


def test_forty_racing_turns_run_one_at_a_time_and_each_409_stores_nothing(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    conversation = _start(client, fake_model)
    probe = TurnProbe(hold_s=0.05)
    fake_model.add(*[probe] * 40)
    start = threading.Barrier(40)

    def race(i: int):  # type: ignore[no-untyped-def]
        start.wait()
        return _turn(client, conversation, f"racing {i}")

    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(race, range(40)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses if r.status_code not in (200, 409)]
    answered = [i for i, r in enumerate(responses) if r.status_code == 200]
    assert answered, "no turn got through"
    assert probe.most_inside == 1, f"{probe.most_inside} turns were inside the model at once"
    stored = _messages(client, conversation)[2:]
    users = [m["content"] for m in stored if m["role"] == "user"]
    assert sorted(users) == sorted(f"racing {i}" for i in answered)  # every 409 stored nothing
    assert len([m for m in stored if m["role"] == "assistant"]) == len(answered)
    seqs = [m["seq"] for m in stored]
    assert seqs == sorted(seqs)
    for user, reply in zip(stored[::2], stored[1::2]):  # turns never interleave
        assert (user["role"], reply["role"]) == ("user", "assistant") and reply["content"] == f"answer to {user['content']}"


def test_retry_with_the_same_idempotency_key_gets_the_same_answer_stored_once(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    conversation = _start(client, fake_model)
    fake_model.add("the one answer")
    first = _turn(client, conversation, "once please", **{"Idempotency-Key": "retry-1"})
    again = _turn(client, conversation, "once please", **{"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert [m["content"] for m in _messages(client, conversation)][2:] == ["once please", "the one answer"]
    # a streaming retry of a streamed request replays the answer as a stream
    fake_model.add("streamed answer")
    body = {"model": "kb_assistant", "conversation_id": conversation, "stream": True,
            "messages": [{"role": "user", "content": "stream it"}]}
    streamed = [client.post(CHAT, json=body, headers={"Idempotency-Key": "retry-2"}).text for _ in range(2)]
    assert _streamed_text(streamed[0]) == _streamed_text(streamed[1]) == "streamed answer"
    assert streamed[1].endswith("data: [DONE]\n\n")
    assert [m["content"] for m in _messages(client, conversation)][4:] == ["stream it", "streamed answer"]


def test_the_same_key_for_another_request_is_422_naming_the_header(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    conversation = _start(client, fake_model)
    fake_model.add("fine")
    assert _turn(client, conversation, "one", **{"Idempotency-Key": "k"}).status_code == 200
    other = _turn(client, conversation, "another", **{"Idempotency-Key": "k"})
    assert other.status_code == 422 and other.json()["error"]["param"] == "Idempotency-Key", other.text
    assert [m["content"] for m in _messages(client, conversation)][2:] == ["one", "fine"]


def test_a_retry_while_the_first_request_runs_is_409_then_gets_its_answer(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    conversation = _start(client, fake_model)
    probe = TurnProbe()
    fake_model.add(probe)
    headers = {"Idempotency-Key": "slow-1"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_turn, client, conversation, "slow", **headers)
        assert probe.entered.wait(30)
        early = _turn(client, conversation, "slow", **headers)
        probe.release.set()
        assert first.result(timeout=60).status_code == 200
    assert early.status_code == 409 and early.headers["Retry-After"] == "1"
    assert early.json()["error"]["param"] == "Idempotency-Key"
    late = _turn(client, conversation, "slow", **headers)
    assert late.status_code == 200 and late.json()["choices"][0]["message"]["content"] == "answer to slow"
    assert [m["content"] for m in _messages(client, conversation)][2:] == ["slow", "answer to slow"]


def test_a_retry_after_a_model_failure_stores_the_question_once(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": "new-conv-1"}
    body = {"model": "kb_assistant", "messages": [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"},
                                                  {"role": "user", "content": "the question"}]}
    fake_model.add(UpstreamError("model 'x' is unreachable"))
    failed = client.post(CHAT, json=body, headers=headers)
    assert failed.status_code == 502, failed.text
    fake_model.add("the answer")
    retried = client.post(CHAT, json=body, headers=headers)
    assert retried.status_code == 200, retried.text
    conversations = client.get("/v1/apps/kb_assistant/conversations").json()["data"]
    assert len(conversations) == 1  # the retry continued the conversation the first attempt made
    stored = _messages(client, retried.json()["conversation_id"])
    assert [(m["role"], m["content"]) for m in stored if not m["error"]] == [
        ("user", "earlier"), ("assistant", "ok"), ("user", "the question"), ("assistant", "the answer")]
    assert client.post(CHAT, json=body, headers=headers).json() == retried.json()


def test_an_empty_or_overlong_key_is_a_422_naming_the_header(client) -> None:  # type: ignore[no-untyped-def]
    for key in ("", "k" * 256):
        response = client.post(CHAT, headers={"Idempotency-Key": key},
                               json={"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 422 and response.json()["error"]["param"] == "Idempotency-Key", response.text
    assert client.get("/v1/apps/kb_assistant/conversations").json()["data"] == []


def test_a_turn_whose_process_died_frees_its_conversation_after_the_lease(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import update

    from moesaic.db import utcnow
    from moesaic.memory.tables import Conversation

    conversation = _start(client, fake_model)
    with platform.db.session() as session:
        row = session.get(Conversation, conversation)
        platform.turns.take(row.tenant_id, conversation, "kb_assistant")  # a turn that never ends (its process was killed)
    assert _turn(client, conversation, "blocked").status_code == 409
    gone = utcnow() - timedelta(seconds=platform.settings.turn_lock_seconds + 1)
    with platform.db.session() as session:
        session.execute(update(Conversation).where(Conversation.id == conversation).values(turn_renewed_at=gone))
    fake_model.add("free again")
    assert _turn(client, conversation, "after the lease").status_code == 200
    assert [m["content"] for m in _messages(client, conversation)][2:] == ["after the lease", "free again"]


def test_taking_another_apps_conversation_is_a_400_busy_or_not_and_takes_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from sqlalchemy import select

    from moesaic.access import ensure_tenant
    from moesaic.errors import UserError
    from moesaic.memory.tables import Conversation
    from moesaic.memory.turns import ConversationBusy

    tenant = ensure_tenant(platform.db)
    conversation = platform.store.create(tenant, "kb_assistant")

    def holder() -> str | None:
        with platform.db.session() as session:
            return session.scalar(select(Conversation.turn_holder).where(Conversation.id == conversation.id))

    with pytest.raises(UserError, match="belongs to app 'kb_assistant', not 'customer_service'"):
        platform.turns.take(tenant, conversation.id, "customer_service")
    assert holder() is None  # not taken, not even for a moment
    token, read = platform.turns.take(tenant, conversation.id, "kb_assistant")
    assert read.id == conversation.id and holder() == token
    with pytest.raises(UserError, match="belongs to app 'kb_assistant'"):  # busy, but the wrong app is said first
        platform.turns.take(tenant, conversation.id, "customer_service")
    with pytest.raises(ConversationBusy):
        platform.turns.take(tenant, conversation.id, "kb_assistant")
    assert holder() == token
