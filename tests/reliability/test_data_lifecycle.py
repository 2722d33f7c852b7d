"""Data lifecycle (issue 16), end to end through the API on SQLite and PostgreSQL: erasing a conversation, a
document, a data subject and a whole tenant removes the data everywhere it lives (SQL rows of the core and of
an app, Chroma vectors, jobs) with an audit row; the export holds the tenant's data and nothing of another
tenant; retention erases what is too old. Another tenant's data is untouched throughout."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from moesaic.config import Settings
from tests.conftest import DATABASES, DATASETS_DIR, schema_database_url

SUBJECT = "jane.doe@example.com"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from schema_database_url(request, tmp_path, "life")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=DATASETS_DIR)


@pytest.fixture
def platform(settings: Settings, fake_model):  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP
    from moesaic.services import Platform
    from tests.apps.contract_app.manifest import APP as CONTRACT

    kb = APP.model_copy(update={"knowledge_documents": None})
    built = Platform.create(settings, model=fake_model, apps={kb.name: kb, CONTRACT.name: CONTRACT})
    yield built
    built.close()


@pytest.fixture
def api_key(platform) -> str:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    return create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}", role="admin")


@pytest.fixture
def client(platform, api_key):  # type: ignore[no-untyped-def]
    """The shared client without its audit-count check: erasing a tenant removes that tenant's audit rows
    too (these tests check the erasures' own audit rows instead)."""
    from fastapi.testclient import TestClient

    from moesaic.api.main import create_app

    with TestClient(create_app(platform=platform)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {api_key}"
        yield test_client


class Tenant:
    """A tenant with a document, two conversations (one names the data subject) and two notes."""

    def __init__(self, client, fake_model, key: str | None = None) -> None:  # type: ignore[no-untyped-def]
        self.client, self.headers = client, ({"Authorization": f"Bearer {key}"} if key else {})
        platform = client.app.state.platform
        response = self.post("/v1/knowledge-bases/default/documents",
                             files={"file": ("policy.txt", b"Returns are accepted within 30 days of delivery.")})
        self.document = response.json()["id"]
        platform.knowledge.wait([self.document], timeout=60)
        fake_model.add("Noted, I will contact you.", "Returns take 30 days.")
        self.subject_conversation = self.chat(f"My email is {SUBJECT} and my customer id is C-1001.")
        self.other_conversation = self.chat("How long do returns take?")
        self.notes = [self.post("/v1/apps/contract_app/notes", json={"text": text}).json()["id"]
                      for text in (f"call back {SUBJECT}", "restock shelf 4")]
        self.id = self.tenant_of(platform)

    def tenant_of(self, platform) -> str:  # type: ignore[no-untyped-def]
        from moesaic.memory.tables import Conversation

        with platform.db.session() as session:
            return str(session.get(Conversation, self.other_conversation).tenant_id)

    def post(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        response = self.client.post(path, headers=self.headers or None, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def chat(self, text: str) -> str:
        body = {"model": "kb_assistant", "messages": [{"role": "user", "content": text}]}
        return str(self.post("/v1/chat/completions", json=body).json()["conversation_id"])


@pytest.fixture
def world(client, fake_model, platform):  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    mine = Tenant(client, fake_model)
    other_key = create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}", role="admin")
    other = Tenant(client, fake_model, other_key)
    return mine, other


def _rows_of(platform, tenant_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows per table that carry this tenant's id (every table with a tenant_id column)."""
    from sqlalchemy import inspect

    from moesaic.db import Base

    counts = {}
    existing = set(inspect(platform.db.engine).get_table_names())  # other tests declare tables they never create
    with platform.db.session() as session:
        for table in (t for t in Base.metadata.sorted_tables if t.name in existing):
            column = table.c.get("tenant_id") if table.name != "tenants" else table.c.id
            if column is not None:
                counts[table.name] = int(session.scalar(select(func.count()).select_from(table).where(column == tenant_id)) or 0)
    return counts


def _audit(platform, tenant_id: str, action: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from moesaic.access.tables import AuditRecord

    with platform.db.session() as session:
        return [dict(row.detail or {}) for row in session.scalars(
            select(AuditRecord).where(AuditRecord.tenant_id == tenant_id, AuditRecord.action == action))]


def _assert_untouched(client, platform, other: Tenant) -> None:  # type: ignore[no-untyped-def]
    for conversation in (other.subject_conversation, other.other_conversation):
        assert client.get(f"/v1/conversations/{conversation}/messages", headers=other.headers).status_code == 200
    notes = client.get("/v1/apps/contract_app/notes", headers=other.headers).json()["data"]
    assert sorted(n["id"] for n in notes) == sorted(other.notes)
    document = client.get(f"/v1/knowledge-bases/default/documents/{other.document}", headers=other.headers).json()
    assert document["status"] == "indexed"
    kb_id = _kb_id(platform, other.id)
    assert platform.knowledge.vector_store.count(kb_id, other.document) > 0


def _kb_id(platform, tenant_id: str) -> str:  # type: ignore[no-untyped-def]
    from moesaic.retrieval.tables import KnowledgeBaseRecord

    with platform.db.session() as session:
        return str(session.scalar(select(KnowledgeBaseRecord.id).where(KnowledgeBaseRecord.tenant_id == tenant_id)))


def test_erasing_a_conversation_and_a_document(client, platform, world) -> None:  # type: ignore[no-untyped-def]
    from moesaic.memory.tables import ChatRequestRecord, MessageRecord
    from moesaic.retrieval.tables import ChunkRecord, DocumentBlobRecord

    mine, other = world
    erased = client.delete(f"/v1/conversations/{mine.other_conversation}")
    assert erased.status_code == 200 and erased.json()["removed"]["messages"] == 2, erased.text
    assert client.get(f"/v1/conversations/{mine.other_conversation}").status_code == 404
    with platform.db.session() as session:
        for table in (MessageRecord, ChatRequestRecord):
            assert not session.scalars(select(table).where(table.conversation_id == mine.other_conversation)).all()
    assert _audit(platform, mine.id, "erase conversation")[0]["removed"]["conversations"] == 1

    kb_id = _kb_id(platform, mine.id)
    assert platform.knowledge.vector_store.count(kb_id, mine.document) > 0
    assert client.delete(f"/v1/knowledge-bases/default/documents/{mine.document}").status_code == 204
    assert platform.knowledge.vector_store.count(kb_id, mine.document) == 0
    with platform.db.session() as session:
        assert not session.scalars(select(ChunkRecord).where(ChunkRecord.document_id == mine.document)).all()
        assert session.get(DocumentBlobRecord, mine.document) is None
    assert json.dumps([j for j in client.get("/v1/jobs").json()["data"]]).count(mine.document) == 0  # its ingest job too
    assert _audit(platform, mine.id, "erase document")[0]["removed"] == {"documents": 1, "jobs": 1}
    _assert_untouched(client, platform, other)


def test_erasing_a_data_subject_reaches_the_apps_tables(client, platform, world) -> None:  # type: ignore[no-untyped-def]
    mine, other = world
    response = client.post("/v1/data-subjects/erase", json={"email": SUBJECT})
    assert response.status_code == 200, response.text
    assert response.json()["removed"] == {"conversations": 1, "messages": 2, "contract_app_notes": 1}
    assert client.get(f"/v1/conversations/{mine.subject_conversation}").status_code == 404
    assert client.get(f"/v1/conversations/{mine.other_conversation}").status_code == 200
    notes = client.get("/v1/apps/contract_app/notes").json()["data"]
    assert [n["text"] for n in notes] == ["restock shelf 4"]
    assert _audit(platform, mine.id, "erase data subject")[0]["removed"]["contract_app_notes"] == 1
    by_customer = client.post("/v1/data-subjects/erase", json={"customer_id": "C-100"})  # a prefix names nobody
    assert by_customer.json()["removed"] == {}
    assert client.post("/v1/data-subjects/erase", json={}).status_code == 400
    _assert_untouched(client, platform, other)


def test_export_holds_the_tenants_data_and_nothing_else(client, world) -> None:  # type: ignore[no-untyped-def]
    mine, other = world
    response = client.get("/v1/tenant/export")
    assert response.status_code == 200
    data = response.json()
    text = json.dumps(data)
    assert {c["id"] for c in data["conversations"]} == {mine.subject_conversation, mine.other_conversation}
    assert any(SUBJECT in m["content"] for c in data["conversations"] for m in c["messages"])
    assert data["knowledge_bases"][0]["documents"][0]["text"].startswith("Returns are accepted")
    assert sorted(n["id"] for n in data["apps"]["contract_app"]["contract_app_notes"]) == sorted(mine.notes)
    assert data["api_keys"] and all("hash" not in field for key in data["api_keys"] for field in key)
    for foreign in (other.id, other.subject_conversation, other.document, *other.notes):
        assert foreign not in text


def test_retention_erases_old_conversations_of_its_tenant_only(client, platform, world) -> None:  # type: ignore[no-untyped-def]
    from moesaic.db import utcnow
    from moesaic.lifecycle import Lifecycle

    mine, other = world
    assert client.put("/v1/retention", json={"conversation_days": 30, "job_days": 30}).status_code == 200
    assert client.put("/v1/retention", json={"app": "nope", "conversation_days": 1}).status_code == 404
    boolean = client.put("/v1/retention", json={"conversation_days": True})  # JSON true is no number of days
    assert boolean.status_code == 422 and boolean.json()["error"]["param"] == "conversation_days"
    assert client.put("/v1/retention", json={"conversation_days": 30.0, "job_days": 30}).status_code == 200  # an integer
    assert Lifecycle(platform).apply_retention(utcnow() + timedelta(days=29)) == {}
    removed = Lifecycle(platform).apply_retention(utcnow() + timedelta(days=31))
    assert removed["conversations"] == 2 and removed["jobs"] >= 1
    assert client.get("/v1/apps/kb_assistant/conversations").json()["data"] == []
    assert [p["conversation_days"] for p in client.get("/v1/retention").json()["data"]] == [30]
    assert _audit(platform, mine.id, "retention: erase conversation")
    _assert_untouched(client, platform, other)


def test_erasing_a_tenant_removes_it_everywhere(client, platform, world) -> None:  # type: ignore[no-untyped-def]
    mine, other = world
    kb_id = _kb_id(platform, mine.id)
    assert client.post("/v1/tenant/erase", json={"confirm": "someone-else"}).status_code == 400
    response = client.post("/v1/tenant/erase", json={"confirm": mine.id})
    assert response.status_code == 200, response.text
    removed = response.json()["removed"]
    assert removed["conversations"] == 2 and removed["contract_app_notes"] == 2 and removed["tenants"] == 1
    assert removed["vector_collections"] == 1 and removed["api_keys"] == 1
    left = {table: n for table, n in _rows_of(platform, mine.id).items() if n}
    assert set(left) == {"audit_log"}, left  # the record of the erasure
    assert _audit(platform, mine.id, "erase tenant")[0]["removed"] == removed
    with pytest.raises(Exception):  # its vectors went with it
        platform.knowledge.vector_store._client.get_collection(f"kb_{kb_id}")
    assert client.get("/v1/models").status_code == 401  # its keys went with it
    _assert_untouched(client, platform, other)


def test_the_email_pattern_accepts_what_the_openapi_schema_accepts(client) -> None:  # type: ignore[no-untyped-def]
    # U+0085 and U+001C are whitespace to Python's and Rust's \s but not to the schema's ECMA regex
    for email in ("a\u0085b@example.org", "x\u001cy@example.org"):
        assert client.post("/v1/data-subjects/erase", json={"email": email}).status_code == 200
    spaced = client.post("/v1/data-subjects/erase", json={"email": "a b@example.org"})
    assert spaced.status_code == 422 and spaced.json()["error"]["param"] == "email"
