"""The search routes: a knowledge base's papers with their metadata, PubMed searched live against the fake
E-utilities server (nothing stored), PubMed papers added to a knowledge base; bad input and a failing
PubMed each a clear 4xx/5xx; the gate's knowledge-base and role checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.pubmed_fake import Fault, FakeEUtilsServer
from tests.apps.literature_analysis.pubmed_env import COFFEE, VITAMIN_D, PubMedEnv, new_tenant_key, point_at, record

DAY = __import__("datetime").date(2024, 5, 2)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubMedEnv]:
    from fastapi.testclient import TestClient

    from apps.kb_assistant.manifest import APP as KB_APP
    from apps.literature_analysis.manifest import APP as LIT_APP
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    tmp = tmp_path_factory.mktemp("search-routes")
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'm.db'}", datasets_dir=tmp / "none",
                        rate_limit_per_minute=0, rate_limit_chat_per_minute=0)
    platform = Platform.create(settings, model=FakeChatModel(), apps={LIT_APP.name: LIT_APP, KB_APP.name: KB_APP})
    with FakeEUtilsServer() as server:
        server.state.add([record(p, t, s, DAY) for p, t, s in VITAMIN_D], term="vitamin d")
        server.state.add([record(p, t, s, DAY) for p, t, s in COFFEE], term="coffee")
        point_at(platform, server, max_attempts=1)
        name, tenant, key = new_tenant_key(platform)
        with TestClient(create_app(platform=platform)) as client:
            yield PubMedEnv(client, platform, server, tenant, name, key)
    platform.close()


def test_pubmed_search_answers_papers_with_metadata_and_stores_nothing(env: PubMedEnv) -> None:
    response = env.call("POST", "/pubmed/search", json={"query": "vitamin d", "max_results": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 2 and [p["pmid"] for p in body["results"]] == ["32000001", "32000002"]
    first = body["results"][0]
    assert first["title"] == "Vitamin D and hip fractures in older adults" and first["journal"] == "Journal of Tests"
    assert first["year"] == 2024 and first["snippet"].startswith("Hip fractures are a major cause")
    assert env.call("POST", "/search", json={"query": "vitamin", "knowledge_base": "pubmed-added"}).status_code == 404  # nothing stored


def test_pubmed_papers_are_added_then_found_by_local_search_with_their_metadata(env: PubMedEnv) -> None:
    response = env.call("POST", "/pubmed/articles", json={"pmids": ["32000001", "32000002", "39999999"], "knowledge_base": "pubmed-added"})
    assert response.status_code == 200, response.text
    assert response.json() == {"knowledge_base": "pubmed-added", "added": ["32000001", "32000002"], "not_found": ["39999999"]}
    env.wait_indexed("pubmed-added")
    found = env.call("POST", "/search", json={"query": "vitamin D hip fracture", "knowledge_base": "pubmed-added"})
    assert found.status_code == 200, found.text
    papers = found.json()["results"]
    assert {p["pmid"] for p in papers} == {"32000001", "32000002"}
    assert all(p["journal"] == "Journal of Tests" and p["year"] == 2024 and p["document_id"] and p["score"] is not None for p in papers)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/pubmed/search", {"query": "  "}, "query"),
    ("/search", {"query": " ", "knowledge_base": "pubmed-added"}, "query"),
    ("/pubmed/articles", {"pmids": ["12a"], "knowledge_base": "pubmed-added"}, "pmids[0]"),
])
def test_bad_input_is_a_400_naming_the_field(env: PubMedEnv, path: str, body: dict[str, object], field: str) -> None:
    response = env.call("POST", path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_local_search_of_an_unknown_base_or_with_no_match_is_a_404(env: PubMedEnv) -> None:
    assert env.call("POST", "/search", json={"query": "vitamin", "knowledge_base": "nowhere"}).status_code == 404
    env.call("POST", "/pubmed/articles", json={"pmids": ["32000003"], "knowledge_base": "coffee-only"})
    env.wait_indexed("coffee-only")
    response = env.call("POST", "/search", json={"query": "zzzqqq", "knowledge_base": "coffee-only"})
    assert response.status_code == 404 and "zzzqqq" in response.json()["error"]["message"]


def test_a_failing_pubmed_is_a_502(env: PubMedEnv) -> None:
    env.server.state.faults.append(Fault(endpoint="esearch", status=500))
    response = env.call("POST", "/pubmed/search", json={"query": "vitamin d"})
    assert response.status_code == 502, response.text


def test_a_viewer_may_search_but_not_add(env: PubMedEnv) -> None:
    _, _, viewer = new_tenant_key(env.platform, role="viewer")
    assert env.call("POST", "/pubmed/search", key=viewer, json={"query": "coffee"}).status_code == 200
    response = env.call("POST", "/pubmed/articles", key=viewer, json={"pmids": ["32000003"]})
    assert response.status_code == 403, response.text


def test_a_knowledge_base_of_an_app_the_key_may_not_use_is_refused(env: PubMedEnv) -> None:
    from moesaic.access import create_api_key

    other = create_api_key(env.platform.db, env.tenant_name, role="operator", apps=["literature_analysis"])
    from apps.kb_assistant.manifest import APP as KB_APP

    response = env.call("POST", "/search", key=other, json={"query": "x", "knowledge_base": KB_APP.knowledge_base})
    assert response.status_code == 403, response.text
