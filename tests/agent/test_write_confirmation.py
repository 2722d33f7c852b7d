"""Write tools run only after the user's explicit confirmation; a handoff silences the bot."""

from __future__ import annotations

import pytest

from moesaic import AppManifest, ToolContext, tool
from moesaic.llm.fake import call, reply_with_tools

STATE: dict[str, str] = {}


@tool(writes=True)
def close_account(account: str) -> str:
    """Close a customer's account."""
    STATE[account] = "closed"
    return f"account {account} closed"


@tool
def transfer_to_human(summary: str, ctx: ToolContext) -> str:
    """Hand the conversation to a person."""
    ctx.request_handoff(summary)
    return "Transfer successful"


APP = AppManifest(name="bank", title="Bank", system_prompt="Be careful.", tools=(close_account, transfer_to_human), knowledge_base=None)


@pytest.fixture
def bank(platform):  # type: ignore[no-untyped-def]
    platform.apps.register(APP)
    STATE.clear()
    return platform


def send(client, text: str, conversation_id: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    body = {"model": "bank", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_write_is_held_until_the_user_confirms(bank, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    close = call("close_account", {"account": "A-1"})
    fake_model.add(reply_with_tools(close), "This will close account A-1. Shall I go ahead?")
    first = send(client, "close my account A-1")
    assert STATE == {}
    assert first["tool_events"][0]["error"] == "confirmation required"
    assert "CONFIRMATION REQUIRED" in fake_model.requests[1].messages[-1].content

    # the model tries again without a new user message: still held
    fake_model.add(reply_with_tools(close), "Please confirm first.")
    send(client, "what happens now?", first["conversation_id"])
    assert STATE == {}

    fake_model.add(reply_with_tools(close), "Done: account A-1 is closed.")
    done = send(client, "yes", first["conversation_id"])
    assert STATE == {"A-1": "closed"}
    assert done["tool_events"][0]["output"] == "account A-1 closed"
    from moesaic.access import authenticate, entries

    caller = authenticate(bank.db, client.headers["Authorization"].split()[1])
    tool_rows = [e for e in entries(bank.db, caller.tenant_id) if e.action.startswith("tool ")]
    assert [(e.action, e.app, e.principal_id, e.target) for e in tool_rows] == [
        ("tool close_account", "bank", caller.id, first["conversation_id"])]  # held attempts are not audited


def test_confirmation_covers_only_the_same_arguments(bank, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("close_account", {"account": "A-1"})), "Confirm closing A-1?")
    first = send(client, "close A-1")
    fake_model.add(reply_with_tools(call("close_account", {"account": "B-2"})), "Confirm closing B-2?")
    send(client, "yes", first["conversation_id"])
    assert STATE == {}


def test_handoff_silences_the_bot(bank, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("transfer_to_human", {"summary": "wants a person"})))
    first = send(client, "I want a human")
    assert first["conversation_state"] == "handed_off"
    requests_before = len(fake_model.requests)
    second = send(client, "hello?", first["conversation_id"])
    assert len(fake_model.requests) == requests_before  # no model call while a person handles it
    assert second["conversation_state"] == "handed_off"
    conversation = client.get(f"/v1/conversations/{first['conversation_id']}").json()
    assert conversation["summary"] == "wants a person"
    messages = client.get(f"/v1/conversations/{first['conversation_id']}/messages").json()["data"]
    assert [(m["role"], m["content"]) for m in messages[-2:]] == [("user", "hello?"), ("assistant", second["choices"][0]["message"]["content"])]


@tool
def find_user(email: str) -> str:
    """Find a user id by email."""
    return "user_42" if email == "jane.doe@example.com" else "Error: user not found"


def test_model_never_sees_pii_but_tools_and_answers_get_it_back(platform, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    platform.settings = platform.settings.model_copy(update={"redact_model_input": True})
    platform.apps.register(AppManifest(name="lookup", title="Lookup", system_prompt="x", tools=(find_user,), knowledge_base=None))

    def call_with_placeholder(request):  # type: ignore[no-untyped-def]
        user_text = request.messages[-1].content
        assert "jane.doe@example.com" not in user_text and "<EMAIL_1>" in user_text
        return reply_with_tools(call("find_user", {"email": "<EMAIL_1>"}))

    fake_model.add(call_with_placeholder, "Found <EMAIL_1> as user_42.")
    body = client.post("/v1/chat/completions", json={"model": "lookup", "messages": [
        {"role": "user", "content": "I am jane.doe@example.com"}]}).json()
    assert body["tool_events"][0]["output"] == "user_42"
    assert body["choices"][0]["message"]["content"] == "Found jane.doe@example.com as user_42."
    tool_message = [m for m in fake_model.requests[1].messages if m.role == "assistant" and m.tool_calls][0]
    assert "<EMAIL_1>" in tool_message.tool_calls[0].arguments  # history is hidden again
