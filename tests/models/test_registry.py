"""Model versions: the shipped one is active until a promotion; promotion and rollback are explicit."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from moesaic.access import create_api_key, ensure_tenant
from moesaic.apps import AppManifest
from moesaic.db import Database
from moesaic.errors import Conflict, NotFound
from moesaic.models import ModelRegistry, ShippedModel

SHIPPED = ShippedModel("scorer", "2026.11.0", "apps/scorer/model", {"ap": 0.7})
SCORER = AppManifest(name="scorer", title="Scorer", models=(SHIPPED,))


@pytest.fixture
def registry(database_url: str) -> ModelRegistry:
    db = Database(database_url)
    db.migrate()
    yield ModelRegistry(db, {"scorer": [SHIPPED]})
    db.dispose()


def test_the_shipped_version_is_active_until_something_is_promoted(registry: ModelRegistry) -> None:
    tenant = ensure_tenant(registry.db, f"t-{secrets.token_hex(3)}")
    assert registry.active(tenant, "scorer", "scorer").version == "2026.11.0"
    candidate = registry.register(tenant, "scorer", "scorer", "retrained-1", "/models/r1", metrics={"ap": 0.75})
    assert candidate.status == "candidate" and registry.active(tenant, "scorer", "scorer").version == "2026.11.0"

    promoted = registry.promote(tenant, "scorer", "scorer", "retrained-1", by="ops")
    assert (promoted.status, promoted.previous_active, promoted.promoted_by) == ("active", "2026.11.0", "ops")
    assert registry.active(tenant, "scorer", "scorer").version == "retrained-1"
    statuses = {v.version: v.status for v in registry.versions(tenant, "scorer", "scorer")}
    assert statuses == {"2026.11.0": "retired", "retrained-1": "active"}

    assert registry.rollback(tenant, "scorer", "scorer").version == "2026.11.0"
    assert registry.active(tenant, "scorer", "scorer").version == "2026.11.0"
    other = ensure_tenant(registry.db, f"o-{secrets.token_hex(3)}")
    assert registry.active(other, "scorer", "scorer").version == "2026.11.0"  # tenants are independent


def test_bad_promotions_are_refused_with_the_valid_options(registry: ModelRegistry) -> None:
    tenant = ensure_tenant(registry.db, f"t-{secrets.token_hex(3)}")
    with pytest.raises(NotFound, match="versions: 2026.11.0"):
        registry.promote(tenant, "scorer", "scorer", "nope")
    with pytest.raises(Conflict, match="already active"):
        registry.promote(tenant, "scorer", "scorer", "2026.11.0")
    with pytest.raises(Conflict, match="nothing to roll back"):
        registry.rollback(tenant, "scorer", "scorer")
    with pytest.raises(NotFound, match="its models: scorer"):
        registry.active(tenant, "scorer", "ranker")
    registry.register(tenant, "scorer", "scorer", "r2", "/m")
    with pytest.raises(Conflict, match="already has a version"):
        registry.register(tenant, "scorer", "scorer", "r2", "/m")


def test_admins_promote_and_roll_back_over_http_and_it_is_audited(settings, fake_model) -> None:  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP as KB_APP
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    platform = Platform.create(settings, model=fake_model, apps={"scorer": SCORER, KB_APP.name: KB_APP})
    tenant_name = f"m-{secrets.token_hex(3)}"
    admin = {"Authorization": f"Bearer {create_api_key(platform.db, tenant_name, role='admin')}"}
    viewer = {"Authorization": f"Bearer {create_api_key(platform.db, tenant_name, role='viewer')}"}
    scoped = {"Authorization": f"Bearer {create_api_key(platform.db, tenant_name, role='admin', apps=['kb_assistant'])}"}
    tenant = ensure_tenant(platform.db, tenant_name)
    platform.models.register(tenant, "scorer", "scorer", "r1", "/m/r1", metrics={"ap": 0.8})
    try:
        with TestClient(create_app(platform=platform)) as client:
            listed = client.get("/v1/apps/scorer/models", headers=viewer).json()["data"]
            assert [(m["name"], m["active"], [v["version"] for v in m["versions"]]) for m in listed] == [
                ("scorer", "2026.11.0", ["2026.11.0", "r1"])]
            refused = client.post("/v1/apps/scorer/models/scorer/promote", json={"version": "r1"}, headers=viewer)
            assert refused.status_code == 403 and "'admin' role" in refused.json()["error"]["message"]
            assert client.get("/v1/apps/scorer/models", headers=scoped).status_code == 403
            promoted = client.post("/v1/apps/scorer/models/scorer/promote", json={"version": "r1"}, headers=admin)
            assert promoted.status_code == 200 and promoted.json()["previous_active"] == "2026.11.0"
            assert client.post("/v1/apps/scorer/models/scorer/promote", json={"version": "r1"}, headers=admin).status_code == 409
            assert client.post("/v1/apps/scorer/models/scorer/rollback", headers=admin).json()["version"] == "2026.11.0"
            actions = [row["action"] for row in client.get("/v1/audit", headers=admin).json()["data"]]
            assert actions[:2] == ["POST /v1/apps/{app}/models/{name}/rollback", "POST /v1/apps/{app}/models/{name}/promote"]
    finally:
        platform.close()


def test_a_new_release_replaces_the_shipped_version_it_overwrote_but_not_a_promoted_one(registry: ModelRegistry) -> None:
    """The shipped artefact lies in the app's package: a release with a new version has removed the old files."""
    upgraded_only, own_model = (ensure_tenant(registry.db, f"t-{secrets.token_hex(3)}") for _ in range(2))
    assert registry.active(upgraded_only, "scorer", "scorer").version == "2026.11.0"
    registry.register(own_model, "scorer", "scorer", "retrained-1", "/models/r1")
    registry.promote(own_model, "scorer", "scorer", "retrained-1")
    moved = "/opt/new-install/apps/scorer/model"  # the new release may also be installed elsewhere
    release = ModelRegistry(registry.db, {"scorer": [ShippedModel("scorer", "2026.12.0", moved)]})
    assert release.active(upgraded_only, "scorer", "scorer").version == "2026.12.0"
    statuses = {v.version: v.status for v in release.versions(upgraded_only, "scorer", "scorer")}
    assert statuses == {"2026.11.0": "retired", "2026.12.0": "active"}
    assert release.active(upgraded_only, "scorer", "scorer").uri == moved
    with pytest.raises(Conflict, match="no longer installed"):
        release.promote(upgraded_only, "scorer", "scorer", "2026.11.0")

    assert release.active(own_model, "scorer", "scorer").version == "retrained-1"
    assert {v.version: v.status for v in release.versions(own_model, "scorer", "scorer")}["2026.12.0"] == "retired"
    with pytest.raises(Conflict, match="no longer installed"):  # its promotion replaced the old shipped version
        release.rollback(own_model, "scorer", "scorer")
    assert release.active(own_model, "scorer", "scorer").version == "retrained-1"

    # going back to the earlier release makes its shipped version active again where a shipped one was
    assert registry.active(upgraded_only, "scorer", "scorer").version == "2026.11.0"
    assert registry.active(upgraded_only, "scorer", "scorer").uri == SHIPPED.uri
    assert registry.active(own_model, "scorer", "scorer").version == "retrained-1"
