"""Keys, accounts, sessions and the audit log over HTTP; roles enforced by the gate."""

from __future__ import annotations

import secrets

import pytest

from moesaic.access import create_api_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def admin_key(platform, tenant: str) -> str:  # type: ignore[no-untyped-def]
    return create_api_key(platform.db, tenant, name="boss", role="admin")


@pytest.fixture
def tenant() -> str:
    return f"access-{secrets.token_hex(4)}"  # the PostgreSQL database is shared by the session


def test_a_viewer_reads_but_cannot_change_anything(platform, client) -> None:  # type: ignore[no-untyped-def]
    viewer = bearer(create_api_key(platform.db, "viewer-tenant", name="auditor", role="viewer"))
    assert client.get("/v1/models", headers=viewer).status_code == 200
    assert client.get("/v1/me", headers=viewer).json()["role"] == "viewer"
    for method, path, kwargs in [
        ("POST", "/v1/chat/completions", {"json": {"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]}}),
        ("POST", "/v1/apps/kb_assistant/conversations", {"json": {}}),
        ("POST", "/v1/knowledge-bases/default/documents", {"files": {"file": ("a.txt", b"text")}}),
    ]:
        response = client.request(method, path, headers=viewer, **kwargs)
        assert response.status_code == 403, (path, response.text)
        assert "'operator' role" in response.json()["error"]["message"] and response.json()["error"]["param"] == "role"
    assert client.get("/v1/keys", headers=viewer).status_code == 403  # admin only


def test_admin_creates_lists_rotates_and_revokes_keys(platform, client, tenant) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(admin_key(platform, tenant))
    created = client.post("/v1/keys", json={"name": "crm", "role": "operator", "apps": ["kb_assistant"]}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("msk-") and body["apps"] == ["kb_assistant"]
    assert client.get("/v1/models", headers=bearer(body["key"])).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()["data"]
    assert {"crm", "boss"} <= {k["name"] for k in listed} and all("key" not in k for k in listed)

    rotated = client.post(f"/v1/keys/{body['id']}/rotate", json={}, headers=admin).json()
    assert client.get("/v1/models", headers=bearer(body["key"])).status_code == 401
    assert client.get("/v1/models", headers=bearer(rotated["key"])).status_code == 200
    assert client.post(f"/v1/keys/{rotated['id']}/revoke", headers=admin).json()["revoked_at"]
    refused = client.get("/v1/models", headers=bearer(rotated["key"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert client.post("/v1/keys", json={"apps": ["no_such_app"]}, headers=admin).status_code == 404
    assert client.post("/v1/keys", json={"role": "root"}, headers=admin).status_code == 422


def test_accounts_sign_in_and_act_by_name(platform, client, fake_model, tenant) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(admin_key(platform, tenant))
    account = client.post("/v1/accounts", json={"username": "sam", "password": "correct horse 1", "display_name": "Sam Lee"},
                          headers=admin)
    assert account.status_code == 201
    wrong = client.post("/v1/sessions", json={"tenant": tenant, "username": "sam", "password": "nope"})
    assert wrong.status_code == 401
    session = client.post("/v1/sessions", json={"tenant": tenant, "username": "sam", "password": "correct horse 1"})
    assert session.status_code == 201
    sam = bearer(session.json()["key"])
    assert client.get("/v1/me", headers=sam).json() | {"id": ""} == {
        "id": "", "kind": "account", "name": "Sam Lee", "role": "operator", "apps": None,
        "tenant_id": client.get("/v1/me", headers=admin).json()["tenant_id"]}

    fake_model.add("hello")
    conversation = client.post("/v1/chat/completions", headers=admin,
                               json={"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]}).json()
    cid = conversation["conversation_id"]
    client.post(f"/v1/conversations/{cid}/handoff", json={}, headers=sam)
    claimed = client.post(f"/v1/conversations/{cid}/claim", headers=sam)
    assert claimed.status_code == 200
    assert client.get("/v1/inbox", headers=sam).json()["data"][0]["operator"] == "Sam Lee"

    client.post(f"/v1/accounts/{account.json()['id']}/disable", headers=admin)
    assert client.get("/v1/me", headers=sam).status_code == 401  # disabling ends the session at once


def test_every_state_change_lands_in_the_audit_log(platform, client, fake_model, tenant) -> None:  # type: ignore[no-untyped-def]
    admin = bearer(admin_key(platform, tenant))
    fake_model.add("hello")
    cid = client.post("/v1/chat/completions", headers=admin,
                      json={"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]}).json()["conversation_id"]
    client.post(f"/v1/conversations/{cid}/handoff", json={"summary": "x"}, headers=admin)
    client.post(f"/v1/conversations/{cid}/claim", headers=admin)
    client.post(f"/v1/conversations/{cid}/operator-messages", json={"content": "hi"}, headers=admin)
    client.get(f"/v1/conversations/{cid}/messages", headers=admin)  # a read: not audited
    client.post(f"/v1/conversations/{cid}/claim", headers=admin)  # a 409: nothing changed, not audited
    rows = client.get("/v1/audit", headers=admin).json()["data"]
    assert [r["action"] for r in rows] == [
        "POST /v1/conversations/{conversation_id}/operator-messages",
        "POST /v1/conversations/{conversation_id}/claim",
        "POST /v1/conversations/{conversation_id}/handoff",
        "POST /v1/chat/completions",
    ]
    assert {r["principal"]["name"] for r in rows} == {"boss"}
    assert rows[0]["app"] == "kb_assistant" and cid in rows[0]["target"]
    assert client.get("/v1/audit", headers=bearer(create_api_key(platform.db, tenant))).status_code == 403


def test_an_admin_limited_to_some_apps_cannot_widen_its_reach(platform, client, tenant) -> None:  # type: ignore[no-untyped-def]
    full = create_api_key(platform.db, tenant, name="root", role="admin")
    limited = bearer(create_api_key(platform.db, tenant, name="kb admin", role="admin", apps=["kb_assistant"]))
    for body in ({"role": "admin"}, {"role": "operator", "apps": []}):
        refused = client.post("/v1/keys", json=body, headers=limited)
        assert refused.status_code == 403 and refused.json()["error"]["param"] == "apps"
    assert client.post("/v1/keys", json={"role": "viewer", "apps": ["kb_assistant"]}, headers=limited).status_code == 201
    root_id = next(k["id"] for k in client.get("/v1/keys", headers=limited).json()["data"] if k["name"] == "root")
    assert client.post(f"/v1/keys/{root_id}/rotate", json={}, headers=limited).status_code == 403  # no unlimited secret
    assert client.post(f"/v1/keys/{root_id}/revoke", headers=limited).status_code == 403
    assert client.post("/v1/accounts", json={"username": "boss2", "password": "a long password 2", "role": "admin"},
                       headers=limited).status_code == 403
    assert client.get("/v1/models", headers=bearer(full)).status_code == 200  # the unlimited key is untouched


def test_an_expired_key_cannot_be_rotated_into_a_dead_key(platform, client, tenant) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from moesaic.access import ensure_tenant, issue_key
    from moesaic.db import utcnow

    admin = bearer(admin_key(platform, tenant))
    _, old = issue_key(platform.db, ensure_tenant(platform.db, tenant), expires_at=utcnow() - timedelta(seconds=1))
    refused = client.post(f"/v1/keys/{old.id}/rotate", json={}, headers=admin)
    assert refused.status_code == 400 and "expired" in refused.json()["error"]["message"]


def test_a_limited_key_sees_its_apps_rows_even_behind_many_of_another_app(platform, client, tenant) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import ensure_tenant, record

    tenant_id = ensure_tenant(platform.db, tenant)
    mine = platform.store.create(tenant_id, "kb_assistant")
    platform.store.update(tenant_id, mine.id, state="handed_off")
    for _ in range(201):  # more than the inbox's page: the limit must apply after the app filter, not before
        other = platform.store.create(tenant_id, "other_app")
        platform.store.update(tenant_id, other.id, state="handed_off")
    limited = bearer(create_api_key(platform.db, tenant, role="admin", apps=["kb_assistant"]))
    assert [c["id"] for c in client.get("/v1/inbox", headers=limited).json()["data"]] == [mine.id]
    record(platform.db, None, "mine", tenant_id=tenant_id, app="kb_assistant")
    for _ in range(5):
        record(platform.db, None, "theirs", tenant_id=tenant_id, app="other_app")
    rows = client.get("/v1/audit", params={"limit": 3}, headers=limited).json()["data"]
    assert [r["action"] for r in rows][:1] == ["mine"] and all(r["app"] in (None, "kb_assistant") for r in rows)
