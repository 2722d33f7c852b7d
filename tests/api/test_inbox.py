"""Operator inbox: take over, claim, reply, hand back; the bot is silent in between."""

from moesaic.access import create_api_key


def send(client, text, conversation_id=None):  # type: ignore[no-untyped-def]
    body = {"model": "kb_assistant", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return client.post("/v1/chat/completions", json=body).json()


def test_operator_takes_over_replies_and_hands_back(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("Hello from the bot.")
    conversation_id = send(client, "hi")["conversation_id"]
    assert client.get("/v1/inbox").json()["data"] == []

    taken = client.post(f"/v1/conversations/{conversation_id}/handoff", json={"summary": "VIP customer"})
    assert taken.status_code == 200 and taken.json()["state"] == "handed_off"
    inbox = client.get("/v1/inbox").json()["data"]
    assert [(c["id"], c["summary"]) for c in inbox] == [(conversation_id, "VIP customer")]

    assert client.post(f"/v1/conversations/{conversation_id}/claim").json()["state"] == "claimed"
    assert client.post(f"/v1/conversations/{conversation_id}/claim").status_code == 409
    reply = client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": "Hi, Sam here."})
    assert reply.status_code == 201

    silent = send(client, "are you a person?", conversation_id)
    assert silent["conversation_state"] == "claimed" and len(fake_model.requests) == 1

    messages = client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]
    assert [(m["role"], m["author"]) for m in messages] == [
        ("user", "customer"), ("assistant", "bot"), ("assistant", "operator"), ("user", "customer"), ("assistant", "bot")]

    assert client.post(f"/v1/conversations/{conversation_id}/handback").json()["state"] == "active"
    fake_model.add("The bot is back.")
    assert send(client, "thanks", conversation_id)["choices"][0]["message"]["content"] == "The bot is back."
    seen = [m.content for m in fake_model.requests[-1].messages]
    assert "Hi, Sam here." in seen  # the model sees what the operator said


def test_operator_cannot_reply_to_an_active_conversation_or_another_tenant(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("hello")
    conversation_id = send(client, "hi")["conversation_id"]
    response = client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": "x"})
    assert response.status_code == 409
    other = {"Authorization": f"Bearer {create_api_key(platform.db, 'other-tenant')}"}
    assert client.post(f"/v1/conversations/{conversation_id}/handoff", json={}, headers=other).status_code == 404
    assert client.get("/v1/inbox", headers=other).json()["data"] == []
    assert client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={}).status_code == 422


def test_message_sent_while_handed_off_keeps_its_reply_after_reload(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("Hello from the bot.")
    conversation_id = send(client, "hi")["conversation_id"]
    client.post(f"/v1/conversations/{conversation_id}/handoff", json={"summary": "needs a person"})
    live = send(client, "is anyone there?", conversation_id)
    note = live["choices"][0]["message"]["content"]
    assert note.startswith("A person from our team is handling this")

    messages = client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]
    assert [(m["role"], m["content"]) for m in messages[-2:]] == [("user", "is anyone there?"), ("assistant", note)]
    assert live["id"] == f"chatcmpl-{messages[-1]['id']}"
