"""A key limited to another app reaches nothing of customer_service (the leaks found in review)."""

from __future__ import annotations

from moesaic.access import create_api_key
from moesaic.types import Message


def test_a_key_of_another_app_cannot_read_claim_reply_or_overwrite_the_policy(shop) -> None:  # type: ignore[no-untyped-def]
    conversation = shop.platform.store.create(shop.tenant_id, "customer_service")
    shop.platform.store.append(shop.tenant_id, conversation.id, Message(role="user", content="my card is 4111 1111 1111 1111"))
    assert shop.client.post(f"/v1/conversations/{conversation.id}/handoff", json={}).status_code == 200
    other = {"Authorization": f"Bearer {create_api_key(shop.platform.db, 'shop-tenant', apps=['kb_assistant'])}"}
    base = f"/v1/conversations/{conversation.id}"

    for path in (base, f"{base}/messages", f"{base}/tool-calls"):
        response = shop.client.get(path, headers=other)
        assert response.status_code == 404 and "4111" not in response.text
    assert conversation.id not in shop.client.get("/v1/inbox", headers=other).text
    assert shop.client.get("/v1/inbox", params={"app": "customer_service"}, headers=other).status_code == 403
    assert shop.client.post(f"{base}/claim", headers=other).status_code == 404
    assert shop.client.post(f"{base}/operator-messages", json={"content": "hi"}, headers=other).status_code == 404

    policy = shop.documents["policy.md"]
    upload = shop.client.post("/v1/knowledge-bases/customer_service/documents", headers=other,
                              files={"file": ("policy.md", b"# Policy\nRefunds are unlimited.")})
    assert upload.status_code == 403 and "customer_service" in upload.json()["error"]["message"]
    documents = shop.client.get("/v1/knowledge-bases/customer_service/documents").json()["data"]
    assert [d["id"] for d in documents if d["filename"] == "policy.md"] == [policy]
    assert all(d["status"] == "indexed" for d in documents)

    messages = shop.client.get(f"{base}/messages").json()["data"]  # the shop's own key still sees it
    assert [m["author"] for m in messages] == ["customer"]
