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


# -- the desk: waiting time, operators by name, search ---------------------------------------------------------


def test_inbox_item_waits_from_the_first_unanswered_message_until_an_operator_answers(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("Hello from the bot.")
    conversation_id = send(client, "hi")["conversation_id"]
    client.post(f"/v1/conversations/{conversation_id}/handoff", json={"summary": "needs a person"})
    item = client.get("/v1/inbox").json()["data"][0]
    assert item["waiting_since"] is not None and item["waiting_seconds"] >= 0  # the hand-off, the bot having answered
    handed_at = item["waiting_since"]

    send(client, "is anyone there?", conversation_id)  # answered only by the automatic note
    send(client, "hello??", conversation_id)
    messages = client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]
    first_unanswered = next(m for m in messages if m["content"] == "is anyone there?")
    item = client.get("/v1/inbox").json()["data"][0]
    assert item["waiting_since"][:19] == first_unanswered["created_at"][:19]
    assert item["waiting_since"] >= handed_at[:19]

    client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": "Sam here, how can I help?"})
    assert client.get("/v1/inbox").json()["data"][0]["waiting_since"] is None


def test_operators_appear_by_name_in_the_list_and_the_conversation(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_account, sign_in

    fake_model.add("Hello from the bot.")
    conversation_id = send(client, "hi")["conversation_id"]
    client.post(f"/v1/conversations/{conversation_id}/handoff", json={})
    from moesaic.access import authenticate

    principal = authenticate(platform.db, client.headers["Authorization"].split()[1])
    create_account(platform.db, principal.tenant_id, "priya", "a long password", display_name="Priya Natarajan")
    session_key, _, _ = sign_in(platform.db, principal.tenant_id, "priya", "a long password")
    as_priya = {"Authorization": f"Bearer {session_key}"}
    assert client.post(f"/v1/conversations/{conversation_id}/claim", headers=as_priya).status_code == 200
    client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": "Hi!"}, headers=as_priya)
    assert client.get("/v1/inbox").json()["data"][0]["operator"] == "Priya Natarajan"
    last = client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"][-1]
    assert (last["author"], last["name"], last["content"]) == ("operator", "Priya Natarajan", "Hi!")


def test_resolved_conversations_stay_searchable_by_text_state_and_page(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for text in ("my parcel never arrived", "the parcel was damaged", "how do I reset my password?"):
        fake_model.add("Noted.")
        ids.append(send(client, text)["conversation_id"])
    for conversation_id in ids[:2]:
        client.post(f"/v1/conversations/{conversation_id}/handoff", json={})
        client.post(f"/v1/conversations/{conversation_id}/resolve")

    found = client.get("/v1/conversations", params={"q": "PARCEL", "state": "resolved"}).json()
    assert {c["id"] for c in found["data"]} == set(ids[:2]) and found["total"] == 2 and not found["has_more"]
    assert all(c["state"] == "resolved" for c in found["data"])
    first = client.get("/v1/conversations", params={"q": "parcel", "limit": 1}).json()
    second = client.get("/v1/conversations", params={"q": "parcel", "limit": 1, "offset": 1}).json()
    assert first["has_more"] and not second["has_more"] and first["total"] == second["total"] == 2
    assert {first["data"][0]["id"], second["data"][0]["id"]} == set(ids[:2])
    assert client.get("/v1/conversations", params={"q": "100%_"}).json()["total"] == 0  # LIKE characters are literal
    assert client.get("/v1/conversations", params={"state": "active"}).json()["data"][0]["id"] == ids[2]

    bad = client.get("/v1/conversations", params={"state": "archived"})
    assert bad.status_code == 422 and "state" in bad.text
    assert client.get("/v1/conversations", params={"limit": 0}).status_code == 422
    other = {"Authorization": f"Bearer {create_api_key(platform.db, 'other-tenant')}"}
    assert client.get("/v1/conversations", params={"q": "parcel"}, headers=other).json()["total"] == 0


def test_search_finds_a_customer_by_the_conversation_identity(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import authenticate
    from moesaic.identity import Identity

    fake_model.add("Hello.")
    conversation_id = send(client, "hi")["conversation_id"]
    tenant_id = authenticate(platform.db, client.headers["Authorization"].split()[1]).tenant_id
    platform.store.update_metadata(tenant_id, conversation_id, identity=Identity.now("ada_lane_1001", "email").to_dict())
    found = client.get("/v1/conversations", params={"customer": "ADA_lane"}).json()
    assert [(c["id"], c["customer"]) for c in found["data"]] == [(conversation_id, "ada_lane_1001")]
    assert client.get("/v1/conversations", params={"customer": "ben"}).json()["total"] == 0
