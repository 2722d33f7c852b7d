"""Conversation-scoped identity, a platform mechanism: tools declare that they need the conversation's
authenticated subject and whose record a call touches; the agent loop refuses otherwise, for any model,
and keeps the identity in the conversation (it survives a new platform on the same database)."""

from __future__ import annotations

from typing import Any

import pytest

from moesaic import AppManifest, ToolContext, tool
from moesaic.identity import Identity, IdentityPolicy
from moesaic.llm.fake import call, reply_with_tools

RECORDS = {"R-1": ("pat", "blood pressure 120/80"), "R-2": ("sam", "allergic to penicillin")}
PEOPLE = {"pat@example.com": "pat", "sam@example.com": "sam"}
CALLS: list[str] = []


@tool
def find_person(email: str, ctx: ToolContext) -> str:
    """Find a person by email."""
    if email not in PEOPLE:
        from moesaic.errors import ToolError

        raise ToolError("nobody with that email")
    ctx.authenticate(PEOPLE[email], "email")
    return PEOPLE[email]


def record_owner(ctx: Any, arguments: dict[str, Any]) -> str | None:
    found = RECORDS.get(arguments["record_id"])
    return found[0] if found else None


@tool(owner=record_owner)
def read_record(record_id: str, ctx: ToolContext) -> str:
    """Read one of the person's records."""
    CALLS.append(record_id)
    if record_id not in RECORDS:
        from moesaic.errors import ToolError

        raise ToolError("no such record")
    return RECORDS[record_id][1]


@tool(requires_identity=True)
def whoami(ctx: ToolContext) -> str:
    """The authenticated person."""
    assert ctx.identity is not None
    return ctx.identity.subject


POLICY = IdentityPolicy(required="Sign in first.", not_owner="Not yours.", other_subject="One person per chat.")
APP = AppManifest(name="clinic", title="Clinic", system_prompt="Help patients.", tools=(find_person, read_record, whoami),
                  knowledge_base=None, identity=POLICY)


@pytest.fixture
def clinic(platform):  # type: ignore[no-untyped-def]
    platform.apps.register(APP)
    CALLS.clear()
    return platform


def send(client, text: str, conversation_id: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    body = {"model": "clinic", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_tool_that_needs_an_identity_is_refused_before_it_runs(clinic, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("read_record", {"record_id": "R-1"}), call("whoami")), "Please sign in.")
    answer = send(client, "show me record R-1")
    assert [(e["name"], e["output"], e["error"]) for e in answer["tool_events"]] == [
        ("read_record", "Error: Sign in first.", "Sign in first."), ("whoami", "Error: Sign in first.", "Sign in first.")]
    assert CALLS == []  # the tool never ran: nothing of the record left the store
    assert "120/80" not in str(answer)
    assert fake_model.requests[1].messages[-2].content == "Error: Sign in first."  # the model reads the refusal


def test_after_authentication_own_records_only(clinic, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("find_person", {"email": "pat@example.com"})), "Hello Pat.")
    first = send(client, "I am pat@example.com")
    conversation_id = first["conversation_id"]
    stored = clinic.store.get(_tenant(clinic, client), conversation_id)
    assert Identity.from_metadata(stored.metadata).subject == "pat"  # type: ignore[union-attr]

    fake_model.add(reply_with_tools(call("read_record", {"record_id": "R-1"}), call("read_record", {"record_id": "R-2"}),
                                    call("read_record", {"record_id": "R-9"}), call("whoami")), "Here.")
    answer = send(client, "records R-1, R-2 and R-9 please", conversation_id)
    assert [(e["output"], e["error"]) for e in answer["tool_events"]] == [
        ("blood pressure 120/80", None),
        ("Error: Not yours.", "Not yours."),  # sam's record: refused before the tool ran
        ("Error: no such record", "no such record"),  # nobody's: the tool says so in its own words
        ("pat", None),
    ]
    assert CALLS == ["R-1", "R-9"]
    assert "penicillin" not in str(answer)


def test_one_person_per_conversation(clinic, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("find_person", {"email": "pat@example.com"})), "Hello Pat.")
    conversation_id = send(client, "I am pat@example.com")["conversation_id"]
    fake_model.add(reply_with_tools(call("find_person", {"email": "sam@example.com"}), call("read_record", {"record_id": "R-2"})),
                   "Sorry.")
    answer = send(client, "now I am sam@example.com, show R-2", conversation_id)
    assert [e["error"] for e in answer["tool_events"]] == ["One person per chat.", "Not yours."]
    assert "sam" not in answer["tool_events"][0]["output"]  # the other person's id is not shown either
    assert CALLS == []


def test_a_failed_lookup_authenticates_nobody(clinic, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add(reply_with_tools(call("find_person", {"email": "who@example.com"})), "Not found.")
    conversation_id = send(client, "I am who@example.com")["conversation_id"]
    fake_model.add(reply_with_tools(call("whoami")), "Sign in please.")
    assert send(client, "who am I?", conversation_id)["tool_events"][0]["error"] == "Sign in first."


def test_the_identity_survives_a_new_platform_on_the_same_database(clinic, client, fake_model, settings) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from moesaic.api.main import create_app
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    fake_model.add(reply_with_tools(call("find_person", {"email": "pat@example.com"})), "Hello Pat.")
    conversation_id = send(client, "I am pat@example.com")["conversation_id"]
    model = FakeChatModel([reply_with_tools(call("whoami")), "You are Pat."])
    restarted = Platform.create(settings, model=model, apps={APP.name: APP})
    try:
        with TestClient(create_app(platform=restarted)) as other:
            other.headers["Authorization"] = client.headers["Authorization"]
            answer = send(other, "who am I?", conversation_id)
    finally:
        restarted.close()
    assert [(e["output"], e["error"]) for e in answer["tool_events"]] == [("pat", None)]


def _tenant(platform: Any, client: Any) -> str:
    from moesaic.access import authenticate

    return str(authenticate(platform.db, client.headers["Authorization"].split()[1]).tenant_id)
