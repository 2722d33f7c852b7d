"""contract_app end to end: its migration on SQLite and PostgreSQL, its routes through the API (and
the gate), its job on the embedded queue, its command and evaluation through `moesaic`.
The job on Redis with two workers: test_contract_app_redis.py; its console page: test_contract_app_page.py;
bad apps: test_bad_apps.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from apps.kb_assistant.manifest import APP as KB_APP
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.llm import FakeChatModel
from moesaic.access import authenticate, create_api_key
from tests.apps.contract_app.manifest import APP, FLOORS, MIGRATIONS
from tests.apps.contract_app.notes import count_notes

runner = CliRunner()


@pytest.fixture
def platform(tmp_path: Path, fresh_database_url: str) -> Iterator[Any]:
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", database_url=fresh_database_url, datasets_dir=tmp_path / "none")
    built = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP, KB_APP.name: KB_APP},
                            start_worker=False)
    yield built
    built.close()


@pytest.fixture
def serving_platform(tmp_path: Path, fresh_database_url: str) -> Iterator[Any]:
    """The platform with its embedded queue consuming (a SQLite file in MOESAIC_HOME, a consumer thread)."""
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", database_url=fresh_database_url, datasets_dir=tmp_path / "none")
    built = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP, KB_APP.name: KB_APP},
                            start_worker=True)
    yield built
    built.close()


def wait_for_job(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """``GET /v1/jobs/{id}`` until the job is done (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("state") in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`moesaic` on a fresh home, running kb_assistant and contract_app (no entry point for the latter)."""
    import moesaic.cli
    from moesaic.config import get_settings

    monkeypatch.setenv("MOESAIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOESAIC_DATASETS_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("MOESAIC_DATABASE_URL", raising=False)
    monkeypatch.setattr(moesaic.cli, "app_loader", lambda: {APP.name: APP})
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_migration_creates_a_tenant_scoped_table_on_its_own_branch(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        db.migrate(version_locations=[MIGRATIONS])
        db.migrate(version_locations=[MIGRATIONS])  # a second run changes nothing
        inspector = inspect(db.engine)
        columns = {column["name"] for column in inspector.get_columns("contract_app_notes")}
        assert {"id", "tenant_id", "text", "created_at"} <= columns
        assert any(index["column_names"] == ["tenant_id"] for index in inspector.get_indexes("contract_app_notes"))
        with db.engine.connect() as connection:
            heads = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert "contract_app_0001" in heads  # it depends on 0002_retrieval, so that one is applied too
        assert {"tenants", "retrieval_knowledge_bases"} <= set(inspector.get_table_names())
    finally:
        db.dispose()


def test_routes_are_mounted_under_the_app_and_scoped_to_the_tenant(platform: Any) -> None:
    from moesaic.api.main import create_app

    alice, bob = create_api_key(platform.db, "alice"), create_api_key(platform.db, "bob")
    kb_only = create_api_key(platform.db, "alice", apps=["kb_assistant"])
    with TestClient(create_app(platform=platform)) as client:
        def call(method: str, key: str | None, **kwargs: Any) -> Any:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return client.request(method, "/v1/apps/contract_app/notes", headers=headers, **kwargs)

        created = call("POST", alice, json={"text": "first"})
        assert created.status_code == 201, created.text
        assert call("GET", alice).json() == {"data": [created.json()], "setup_ran": True}
        assert call("GET", bob).json()["data"] == []
        assert call("GET", None).status_code == 401
        refused = call("GET", kb_only)
        assert refused.status_code == 403 and "contract_app" in refused.json()["error"]["message"]
        assert call("POST", alice, json={"text": ""}).status_code == 422  # validated by the API, as core routes


def test_an_app_without_chat_is_no_model_and_chat_refuses_it(platform: Any) -> None:
    from moesaic.api.main import create_app

    key = create_api_key(platform.db, "carol")
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["kb_assistant"]
        listed = {a["name"]: a["chat"] for a in client.get("/v1/apps").json()["data"]}
        assert listed == {"contract_app": False, "kb_assistant": True}
        refused = client.post("/v1/chat/completions", json={"model": "contract_app",
                                                            "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "model" and "kb_assistant" in refused.json()["error"]["message"]


def test_router_is_mounted_once_when_the_lifespan_runs_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moesaic.api.main import create_app

    monkeypatch.setattr("moesaic.services.load_apps", lambda: {APP.name: APP})
    api = create_app(Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False))
    for _ in range(2):
        with TestClient(api) as client:
            ready = client.get("/readyz").json()
            assert ready["apps"] == {"contract_app": "ready"}
            key = create_api_key(client.app.state.platform.db, "dave")
            assert client.get("/v1/apps/contract_app/notes", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    from moesaic.api.app_routes import api_routes

    paths = [(path, tuple(sorted(methods))) for path, methods in api_routes(api) if path.startswith("/v1/apps/contract_app")]
    assert sorted(paths) == [("/v1/apps/contract_app/notes", ("DELETE",)), ("/v1/apps/contract_app/notes", ("GET",)),
                             ("/v1/apps/contract_app/notes", ("POST",)), ("/v1/apps/contract_app/notes:bulk", ("POST",))]


def test_bulk_route_queues_a_job_that_the_embedded_queue_runs_once(serving_platform: Any) -> None:
    from moesaic.api.main import create_app

    platform = serving_platform
    alice, bob = create_api_key(platform.db, "alice"), create_api_key(platform.db, "bob")
    kb_only = create_api_key(platform.db, "alice", apps=["kb_assistant"])
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {alice}"
        accepted = client.post("/v1/apps/contract_app/notes:bulk", json={"texts": ["one", "two", "three"]})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        job = wait_for_job(client, job_id)
        assert job["state"] == "succeeded", job
        assert (job["app"], job["kind"], job["attempts"]) == ("contract_app", "add_notes", 1)
        assert job["payload"] == {"texts": ["one", "two", "three"]} and job["result"]["added"] == 3
        assert [n["text"] for n in client.get("/v1/apps/contract_app/notes").json()["data"]] == ["one", "two", "three"]
        assert [j["id"] for j in client.get("/v1/jobs", params={"app": "contract_app"}).json()["data"]] == [job_id]

        platform.jobs.deliver(job_id)  # a duplicate message: the job is settled, its effect is not applied again
        tenant = authenticate(platform.db, alice).tenant_id
        assert count_notes(platform.db, tenant) == 3

        for key in (bob, kb_only):  # another tenant, or a key of this tenant that may not use the app
            assert client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).status_code == 404
        assert client.get("/v1/apps/contract_app/notes", headers={"Authorization": f"Bearer {bob}"}).json()["data"] == []
        assert client.post("/v1/apps/contract_app/notes:bulk", json={"texts": []}).status_code == 422
        assert client.post("/v1/apps/contract_app/notes:bulk", json={"texts": ["ok", ""]}).status_code == 422

    broken = platform.jobs.enqueue(tenant, "contract_app", "add_notes", {"texts": "not a list"})
    [failed] = platform.jobs.wait(tenant, [broken.id], timeout=30)
    assert failed.state == "failed" and failed.attempts == 1 and "must be a list" in (failed.error or "")
    assert count_notes(platform.db, tenant) == 3


def test_a_route_that_declares_a_role_refuses_lower_roles(platform: Any) -> None:
    from moesaic.api.main import create_app

    operator = create_api_key(platform.db, "frank")
    admin = create_api_key(platform.db, "frank", role="admin")
    with TestClient(create_app(platform=platform)) as client:
        client.post("/v1/apps/contract_app/notes", json={"text": "keep?"}, headers={"Authorization": f"Bearer {operator}"})
        refused = client.delete("/v1/apps/contract_app/notes", headers={"Authorization": f"Bearer {operator}"})
        assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
        deleted = client.delete("/v1/apps/contract_app/notes", headers={"Authorization": f"Bearer {admin}"})
        assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}


def test_every_route_answers_a_named_model_in_the_openapi_schema(platform: Any) -> None:
    from moesaic.api.main import create_app

    paths = create_app(platform=platform).openapi()["paths"]
    operations = {(method, path): op for path, item in paths.items() if path.startswith("/v1/apps/contract_app/")
                  for method, op in item.items()}
    assert set(operations) == {("get", "/v1/apps/contract_app/notes"), ("post", "/v1/apps/contract_app/notes"),
                               ("delete", "/v1/apps/contract_app/notes"), ("post", "/v1/apps/contract_app/notes:bulk")}
    for (method, path), op in operations.items():
        [(status, body)] = [(s, b) for s, b in op["responses"].items() if s.startswith("2")]
        assert "$ref" in body["content"]["application/json"]["schema"], (method, path, status)
        assert op["x-moesaic-access"]["resources"] == {"app": "const:contract_app"}


def test_command_runs_through_moesaic_apps(cli_home: Path) -> None:
    from moesaic.cli import cli

    listed = runner.invoke(cli, ["apps", "--help"])
    assert listed.exit_code == 0 and "contract_app" in listed.output
    added = runner.invoke(cli, ["apps", "contract_app", "add", "hello", "--tenant", "acme"])
    assert added.exit_code == 0, added.output
    counted = runner.invoke(cli, ["apps", "contract_app", "count", "--tenant", "acme"])
    assert counted.exit_code == 0 and counted.output.strip().splitlines()[-1] == "1"
    unknown = runner.invoke(cli, ["apps", "nope"])
    assert unknown.exit_code != 0 and "nope" in unknown.output


def test_eval_runs_the_full_entry_and_the_quick_gate(cli_home: Path) -> None:
    from moesaic.cli import cli

    full = runner.invoke(cli, ["eval", "contract_app", "--repeat", "2"])
    assert full.exit_code == 0, full.output
    assert json.loads(full.output.strip().splitlines()[-1]) == {"evaluation": "notes", "repeat": 2}
    named = runner.invoke(cli, ["eval", "contract_app", "notes", "--repeat", "3"])
    assert json.loads(named.output.strip().splitlines()[-1])["repeat"] == 3
    gate = runner.invoke(cli, ["eval", "--all", "--quick", "--floors", str(FLOORS)])
    assert gate.exit_code == 0, gate.output
    summary = json.loads(gate.output.strip().splitlines()[-1])
    assert summary["passed"] and summary["results"] == {"contract_app.notes": {"roundtrip": 1.0, "isolation": 1.0}}


@pytest.mark.parametrize(
    ("floors", "shown"),
    [
        ({"contract_app.notes": {"roundtrip": 1.5, "isolation": 1.0}}, "UNDER FLOOR"),  # under its floor
        ({"contract_app.notes": {"roundtrip": 1.0, "recall": 0.5}}, "recall"),  # floored metric not returned
        ({"other.eval": {"x": 0.0}}, "(no floor recorded)"),  # an evaluation that no floor gates
    ],
)
def test_quick_gate_fails(cli_home: Path, floors: dict[str, Any], shown: str) -> None:
    from moesaic.cli import cli

    path = cli_home / "floors.json"
    path.write_text(json.dumps(floors))
    gate = runner.invoke(cli, ["eval", "--all", "--quick", "--floors", str(path)])
    assert gate.exit_code == 1, gate.output
    assert shown in gate.output and json.loads(gate.output.strip().splitlines()[-1])["failed"] == ["contract_app.notes"]


def test_readyz_reports_an_app_whose_warmup_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moesaic.api.main import create_app

    def broken_warmup(ctx: Any) -> None:
        raise RuntimeError("model file missing")

    cold = APP.model_copy(update={"warmup": broken_warmup})
    monkeypatch.setattr("moesaic.services.load_apps", lambda: {cold.name: cold, KB_APP.name: KB_APP})
    api = create_app(Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False))
    with TestClient(api) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    # the public probe says which app is not ready; why (which may name files or hosts) goes to the log only
    assert ready.json()["apps"] == {"contract_app": "error", "kb_assistant": "ready"}
