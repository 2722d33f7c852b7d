"""Saved PubMed queries behind the gate, synced as jobs of the platform's (embedded) queue against the fake
E-utilities server: documents land in the knowledge base with exact sentence spans, a second sync asks only
for newer records, 429/5xx are retried, malformed XML fails the run in the query's status with the stored
documents kept, due queries are picked by the schedule, tenants never see each other's queries."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.pubmed_fake import Fault, FakeEUtilsServer, FakeRecord, generate_records
from tests.apps.literature_analysis.pubmed_env import (
    APP, COFFEE, KB, VITAMIN_D, PubMedEnv, new_tenant_key, point_at, record,
)

FIXTURES = Path(__file__).parents[2] / "connectors" / "fixtures"
TODAY = dt.datetime.now(dt.timezone.utc).date()
OLD_DAY = dt.date(2024, 3, 1)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubMedEnv]:
    from fastapi.testclient import TestClient

    from apps.kb_assistant.manifest import APP as KB_APP
    from apps.literature_analysis.manifest import APP as LIT_APP
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    tmp = tmp_path_factory.mktemp("saved-queries")
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'm.db'}", datasets_dir=tmp / "none",
                        rate_limit_per_minute=0, rate_limit_chat_per_minute=0)
    platform = Platform.create(settings, model=FakeChatModel(), apps={LIT_APP.name: LIT_APP, KB_APP.name: KB_APP})
    with FakeEUtilsServer() as server:
        point_at(platform, server)
        name, tenant, key = new_tenant_key(platform)
        with TestClient(create_app(platform=platform)) as client:
            yield PubMedEnv(client, platform, server, tenant, name, key)
    platform.close()


def _create(env: PubMedEnv, name: str, term: str, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
    response = env.call("POST", "/queries", key=key, json={"name": name, "term": term, "knowledge_base": KB, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_sync_job_stores_abstracts_with_exact_sentences_and_the_next_one_asks_only_for_newer_records(env: PubMedEnv) -> None:
    from apps.literature_analysis.scope import by_pmids

    env.server.state.add([record(p, t, s, OLD_DAY) for p, t, s in VITAMIN_D], term="vitamin d fracture")
    created = _create(env, "vitd", "vitamin d fracture", interval_hours=12)
    assert created["last_status"] == "never" and created["synced_through"] is None and created["due"] is True
    assert [q["name"] for q in env.call("GET", "/queries").json()["queries"]] == ["vitd"]

    job = env.sync("vitd")
    assert job.state == "succeeded", job.error
    assert job.result["num_written"] == 2 and job.result["cursor"] == TODAY.isoformat()
    query = env.query("vitd")
    assert query["last_status"] == "succeeded" and query["synced_through"] == TODAY.isoformat()
    assert (query["num_found"], query["num_written"], query["num_runs"]) == (2, 2, 1) and query["due"] is False
    assert query["last_job_id"] == job.id
    env.wait_indexed()
    [first] = by_pmids(env.platform.knowledge, env.tenant, KB, ["32000001"])
    assert first.title == "Vitamin D and hip fractures in older adults" and first.metadata["journal"] == "Journal of Tests"
    assert [s.text for s in first.spans] == VITAMIN_D[0][2]
    assert all(first.text[s.start_char : s.end_char] == s.text for s in first.spans)

    newer = record("32000009", "Vitamin D and falls", ["Vitamin D did not reduce falls in nursing homes."], TODAY)
    env.server.state.add([newer], term="vitamin d fracture")
    searches_before = len(env.server.state.requests("esearch"))
    again = env.sync("vitd")
    assert again.state == "succeeded", again.error
    searches = env.server.state.requests("esearch")[searches_before:]
    assert searches and all(s.params["mindate"] == TODAY.strftime("%Y/%m/%d") for s in searches)
    assert again.result["num_written"] == 1  # only the record dated after the cursor's day... or on it
    third = env.sync("vitd")  # the cursor's day is asked again: the same record, written once
    assert third.state == "succeeded" and third.result["num_written"] == 1
    env.wait_indexed()
    names = sorted(d.filename for d in env.documents())
    assert names.count("pubmed-32000009.md") == 1 and "pubmed-32000001.md" in names
    assert env.query("vitd")["num_runs"] == 3


def test_429_and_5xx_are_retried_within_the_job(env: PubMedEnv) -> None:
    env.server.state.add([record(p, t, s, OLD_DAY) for p, t, s in COFFEE], term="coffee sleep")
    _create(env, "coffee", "coffee sleep")
    env.server.state.faults.extend([Fault("esearch", 429, retry_after="0"), Fault("efetch", 503), Fault("efetch", 500)])
    job = env.sync("coffee")
    assert job.state == "succeeded", job.error
    assert job.attempts == 1 and job.result["num_retries"] == 3 and job.result["num_written"] == 1
    assert not env.server.state.faults
    assert env.query("coffee")["last_status"] == "succeeded"


def test_malformed_xml_fails_the_run_in_the_query_status_and_keeps_what_was_stored(env: PubMedEnv) -> None:
    term = "malformed topic"
    good = generate_records(3, first_pmid=33_000_000, start=OLD_DAY, per_day=3, seed=4)
    env.server.state.add(good, term=term)
    _create(env, "broken", term)
    assert env.sync("broken").state == "succeeded"
    stored = {d.filename for d in env.documents()}
    broken = FakeRecord("55555502", (FIXTURES / "malformed_article.xml").read_text(), TODAY, TODAY)
    env.server.state.add([broken], term=term)
    job = env.sync("broken")
    assert job.state == "failed" and job.attempts == 1  # no retry would read it better
    assert "55555502" in (job.error or "")
    query = env.query("broken")
    assert query["last_status"] == "failed" and "PMID 55555502" in query["last_error"]
    assert query["synced_through"] == TODAY.isoformat()  # the first run's cursor, unmoved by the failed one
    assert stored <= {d.filename for d in env.documents()}
    assert {f"pubmed-{r.pmid}.md" for r in good} <= stored


def test_an_unreachable_pubmed_fails_the_job_and_says_so_in_the_query(env: PubMedEnv) -> None:
    from connectors.pubmed import load_settings

    services = env.platform.app_context(APP).services
    kept = services["pubmed_settings"]
    services["pubmed_settings"] = load_settings(base_url="http://127.0.0.1:9/", max_attempts=1, backoff_s=0)
    try:
        _create(env, "offline", "anything at all")
        job = env.sync("offline", timeout=90)
    finally:
        services["pubmed_settings"] = kept
    assert job.state == "failed" and "failed after 1 attempts" in (job.error or "")
    query = env.query("offline")
    assert query["last_status"] == "failed" and "E-utilities" in query["last_error"] and query["synced_through"] is None


def test_sync_due_picks_only_due_queries(env: PubMedEnv) -> None:
    from apps.literature_analysis.saved_queries import SavedQueryRow
    from apps.literature_analysis.sync import enqueue_due
    from sqlalchemy import update

    name, tenant, key = new_tenant_key(env.platform)
    for query_name in ("fresh", "recent", "stale"):
        _create(env, query_name, f"due test {query_name}", key=key, interval_hours=24)
    now = dt.datetime.now(dt.timezone.utc)
    with env.platform.db.session() as session:
        for query_name, ran in (("recent", now - dt.timedelta(hours=2)), ("stale", now - dt.timedelta(hours=30))):
            session.execute(update(SavedQueryRow).where(SavedQueryRow.tenant_id == tenant, SavedQueryRow.name == query_name)
                            .values(last_run_at=ran, last_status="succeeded"))
    context = env.platform.app_context(APP)
    queued = enqueue_due(context, tenant_id=tenant, now=now)
    assert sorted(j.payload["query"] for j in queued) == ["fresh", "stale"]
    assert enqueue_due(context, tenant_id=tenant, now=now) == []  # queued or running already: not asked twice
    done = env.platform.jobs.wait(tenant, [j.id for j in queued], timeout=60)
    assert all(j.state == "succeeded" for j in done), done
    assert enqueue_due(context, tenant_id=tenant, now=now) == []  # they just ran: due again in 24 hours
    later = enqueue_due(context, tenant_id=tenant, now=now + dt.timedelta(hours=25))
    assert sorted(j.payload["query"] for j in later) == ["fresh", "recent", "stale"]
    env.platform.jobs.wait(tenant, [j.id for j in later], timeout=60)


def test_the_schedule_is_a_chore_of_the_job_queue() -> None:
    from apps.literature_analysis.sync import SCHEDULE_CHECK_S, install_schedule

    class Queue:
        chores: list[tuple[float, Any]] = []

        def add_chore(self, interval: float, chore: Any) -> None:
            self.chores.append((interval, chore))

    class Context:
        jobs = Queue()

    install_schedule(Context())  # type: ignore[arg-type]
    [(interval, chore)] = Context.jobs.chores
    assert interval == SCHEDULE_CHECK_S and chore.__name__ == "sync_due_queries"


def test_tenants_never_see_each_others_queries(env: PubMedEnv) -> None:
    _, _, other = new_tenant_key(env.platform)
    _create(env, "mine", "tenant isolation term")
    assert env.call("GET", "/queries/mine", key=other).status_code == 404
    assert env.call("POST", "/queries/mine:sync", key=other).status_code == 404
    assert env.call("DELETE", "/queries/mine", key=other).status_code == 404
    assert "mine" not in [q["name"] for q in env.call("GET", "/queries", key=other).json()["queries"]]
    refused = env.call("POST", "/claims:check", key=other, json={"claim": "Vitamin D prevents fractures.", "saved_query": "vitd"})
    assert refused.status_code == 404 and refused.json()["error"]["param"] == "saved_query"
    _create(env, "mine", "the same name in another tenant", key=other)  # names are per tenant
    deleted = env.call("DELETE", "/queries/mine")
    assert deleted.status_code == 200 and deleted.json()["term"] == "tenant isolation term"
    assert env.call("GET", "/queries/mine").status_code == 404
    assert env.call("GET", "/queries/mine", key=other).status_code == 200


def test_bad_input_is_a_4xx_naming_the_field(env: PubMedEnv) -> None:
    _create(env, "taken", "some term")
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"name": "bad name!", "term": "x"}, 422, "name"),
        ({"name": "ok", "term": ""}, 422, "term"),
        ({"name": "ok", "term": "   "}, 400, "term"),
        ({"name": "ok", "term": "vitamin\u0000d"}, 400, "term"),
        ({"name": "ok", "term": "x", "interval_hours": 0}, 422, "interval_hours"),
        ({"name": "ok", "term": "x", "datetype": "when"}, 422, "datetype"),
        ({"name": "ok", "term": "x", "synced_through": tomorrow}, 400, "synced_through"),
        ({"name": "ok", "term": "x", "synced_through": 0}, 422, "synced_through"),
        ({"name": "ok", "term": "x", "knowledge_base": "default"}, 403, "knowledge_base"),  # kb_assistant's
        ({"name": "taken", "term": "x"}, 409, "name"),
    ]
    for payload, status, field in cases:
        response = env.call("POST", "/queries", json={"knowledge_base": KB, **payload} if "knowledge_base" not in payload else payload)
        assert response.status_code == status, (payload, response.text)
        assert field in json.dumps(response.json()), (payload, response.json())
    for method, path in (("GET", "/queries/nope"), ("DELETE", "/queries/nope"), ("POST", "/queries/nope:sync")):
        response = env.call(method, path)
        assert response.status_code == 404 and response.json()["error"]["param"] == "name", response.text
    viewer = new_tenant_key(env.platform, role="viewer")[2]
    assert env.call("POST", "/queries", key=viewer, json={"name": "v", "term": "x"}).status_code == 403
    assert env.call("GET", "/queries", key=viewer).status_code == 200


def test_routes_are_documented_with_their_status_codes(env: PubMedEnv) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]
    assert set(paths[f"/v1/apps/{APP}/queries"]["post"]["responses"]) >= {"201", "400", "401", "403", "404", "409", "422", "429"}
    assert set(paths[f"/v1/apps/{APP}/queries/{{name}}:sync"]["post"]["responses"]) >= {"202", "401", "404", "422", "502"}
    assert set(paths[f"/v1/apps/{APP}/queries/{{name}}"]["get"]["responses"]) >= {"200", "401", "404", "422"}
    assert paths[f"/v1/apps/{APP}/queries"]["post"]["x-moesaic-access"]["resources"]["knowledge_base"] == "body:knowledge_base"


def test_the_sync_due_command_queues_only_due_queries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`moesaic apps literature_analysis sync-due` on a home of its own prints one line per queued job, for
    the due queries only; an unknown tenant is refused naming it. (No worker here: the job stays queued.)"""
    from typer.testing import CliRunner

    import moesaic.cli
    from apps.literature_analysis.manifest import APP as LIT_APP
    from apps.literature_analysis.saved_queries import create_query, get_query
    from moesaic.access import ensure_tenant
    from moesaic.config import Settings, get_settings
    from moesaic.services import Platform

    with FakeEUtilsServer() as server:
        server.state.add([record(p, t, s, OLD_DAY) for p, t, s in COFFEE], term="coffee")
        for name, value in (("HOME", str(tmp_path / "home")), ("DATASETS_DIR", str(tmp_path / "none")),
                            ("PUBMED_BASE_URL", server.base_url), ("PUBMED_BACKOFF_S", "0.01"), ("INGEST_WORKER", "false")):
            monkeypatch.setenv(f"MOESAIC_{name}", value)
        monkeypatch.delenv("MOESAIC_DATABASE_URL", raising=False)
        monkeypatch.setattr(moesaic.cli, "app_loader", lambda: {LIT_APP.name: LIT_APP})
        get_settings.cache_clear()
        platform = Platform.create(Settings(), apps={LIT_APP.name: LIT_APP}, start_worker=False)
        try:
            tenant = ensure_tenant(platform.db, "cron")
            create_query(platform.db, tenant, name="due", term="coffee", knowledge_base=KB, interval_hours=1)
            later = create_query(platform.db, tenant, name="later", term="coffee", knowledge_base=KB, interval_hours=24)
            from apps.literature_analysis.saved_queries import SavedQueryRow
            from sqlalchemy import update

            with platform.db.session() as session:
                session.execute(update(SavedQueryRow).where(SavedQueryRow.id == later.id).values(
                    last_run_at=dt.datetime.now(dt.timezone.utc), last_status="succeeded"))
            runner = CliRunner()
            first = runner.invoke(moesaic.cli.cli, ["apps", APP, "sync-due", "--tenant", "cron"])
            assert first.exit_code == 0, first.output
            lines = [json.loads(line) for line in first.output.splitlines() if line.startswith("{")]
            assert [(line["query"], line["tenant_id"]) for line in lines] == [("due", tenant)]
            assert get_query(platform.db, tenant, "later").last_status == "succeeded"
            unknown = runner.invoke(moesaic.cli.cli, ["apps", APP, "sync-due", "--tenant", "nobody"])
            assert unknown.exit_code != 0 and "nobody" in unknown.output
            (job,) = platform.jobs.wait(tenant, [lines[0]["job_id"]], timeout=5)
            assert job.kind == "pubmed_sync" and job.payload["query"] == "due"
        finally:
            platform.close()
            get_settings.cache_clear()


def test_the_migration_creates_both_tables_and_the_store_works_on_them(fresh_database_url: str) -> None:
    """SQLite and PostgreSQL: the app's branch creates what the mapped tables declare; names are unique
    per tenant, the cursor moves through ``DbCursorStore``, a PMID is remembered once per query."""
    from sqlalchemy import inspect

    from apps.literature_analysis.manifest import APP as LIT_APP
    from apps.literature_analysis.saved_queries import DbCursorStore, add_pmids, create_query, list_queries, query_pmids
    from connectors.pubmed_sync import SavedQuery
    from moesaic.db import Database
    from moesaic.errors import Conflict

    assert LIT_APP.migrations is not None
    db = Database(fresh_database_url)
    try:
        db.migrate(version_locations=[str(LIT_APP.migrations)])
        db.migrate(version_locations=[str(LIT_APP.migrations)])  # a second run changes nothing
        inspector = inspect(db.engine)
        for table in LIT_APP.tables:
            declared = {c.name for c in table.__table__.columns}
            assert declared == {c["name"] for c in inspector.get_columns(table.__tablename__)}
            assert any(i["column_names"] == ["tenant_id"] for i in inspector.get_indexes(table.__tablename__))
        first = create_query(db, "t1", name="q", term="x", knowledge_base=KB, interval_hours=24)
        create_query(db, "t2", name="q", term="y", knowledge_base=KB, interval_hours=24)
        with pytest.raises(Conflict):
            create_query(db, "t1", name="q", term="z", knowledge_base=KB, interval_hours=24)
        cursors = DbCursorStore(db, "t1")
        assert cursors.load(SavedQuery("q", "x")) is None
        cursors.save(SavedQuery("q", "x"), OLD_DAY)
        assert cursors.load(SavedQuery("q", "x")) == OLD_DAY and DbCursorStore(db, "t2").load(SavedQuery("q", "y")) is None
        add_pmids(db, "t1", first.id, ["1", "2"])
        add_pmids(db, "t1", first.id, ["2", "3"])
        assert query_pmids(db, "t1", first.id) == {"1", "2", "3"} and query_pmids(db, "t2", first.id) == set()
        assert [q.tenant_id for q in list_queries(db, None)] == ["t1", "t2"]
    finally:
        db.dispose()
