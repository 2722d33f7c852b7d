"""The answer cache's tests run the kb_assistant app without its seed documents (each test uploads its own, so
no ingestion in the background changes the knowledge base while a test asks), plus a small app with a tool."""

from __future__ import annotations

import pytest

from moesaic import AppManifest, tool
from moesaic.config import Settings

RETURNS = (b"Returns policy\n\nItems can be returned within 30 days of delivery for a full refund.\n\n"
           b"Gift cards cannot be returned or exchanged for cash.")


@tool
def order_status(order_id: str) -> str:
    """The status of an order."""
    return f"order {order_id} is pending"


SHOP = AppManifest(name="shop", title="Shop", system_prompt="Help shoppers.", tools=(order_status,))


@pytest.fixture
def platform(settings: Settings, fake_model):  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP
    from moesaic.services import Platform

    kb = APP.model_copy(update={"knowledge_documents": None})
    built = Platform.create(settings, model=fake_model, apps={kb.name: kb, SHOP.name: SHOP})
    yield built
    built.close()


def upload(client, name: str = "returns.txt", data: bytes = RETURNS) -> str:  # type: ignore[no-untyped-def]
    response = client.post("/v1/knowledge-bases/default/documents", files={"file": (name, data, "text/plain")})
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    [info] = client.app.state.platform.knowledge.wait([document_id], timeout=60)
    assert info.status == "indexed", info
    return str(document_id)


def ask(client, content: str, model: str = "kb_assistant", **extra):  # type: ignore[no-untyped-def]
    response = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": content}], **extra})
    assert response.status_code == 200, response.text
    return response.json()


def stored(client, conversation_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]  # type: ignore[no-any-return]
