"""A saved query as the scope of claim checks, contradictions and summaries (its knowledge base, only the
abstracts it brought in), and the chat app's PubMed tools against the fake E-utilities server: a live
search that stores nothing, and adding PMIDs to the knowledge base, held until the user confirms."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from apps.literature_analysis.models import ClaimModels
from connectors.pubmed_fake import FakeEUtilsServer
from tests.apps.literature_analysis.pubmed_env import APP, COFFEE, KB, VITAMIN_D, PubMedEnv, new_tenant_key, point_at, record

DAY = dt.date(2024, 5, 2)
VITAMIN_PMIDS = {p for p, _, _ in VITAMIN_D}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, claim_models: ClaimModels) -> Iterator[PubMedEnv]:
    from fastapi.testclient import TestClient

    from apps.literature_analysis.manifest import APP as LIT_APP
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    tmp = tmp_path_factory.mktemp("saved-query-scope")
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'm.db'}", datasets_dir=tmp / "none",
                        rate_limit_per_minute=0, rate_limit_chat_per_minute=0)
    platform = Platform.create(settings, model=FakeChatModel(), apps={LIT_APP.name: LIT_APP})
    platform.app_context(APP).services["models"] = claim_models
    with FakeEUtilsServer() as server:
        point_at(platform, server)
        name, tenant, key = new_tenant_key(platform)
        platform.ensure_app_knowledge(LIT_APP, tenant)
        server.state.add([record(p, t, s, DAY) for p, t, s in VITAMIN_D], term="vitamin d")
        server.state.add([record(p, t, s, DAY) for p, t, s in COFFEE], term="coffee")
        with TestClient(create_app(platform=platform)) as client:
            built = PubMedEnv(client, platform, server, tenant, name, key)
            for query, term in (("vit", "vitamin d"), ("coffee", "coffee")):
                assert built.call("POST", "/queries", json={"name": query, "term": term, "knowledge_base": KB}).status_code == 201
                assert built.sync(query).state == "succeeded"
            built.wait_indexed()
            yield built
    platform.close()


def test_a_claim_check_over_a_saved_query_looks_only_at_its_abstracts(env: PubMedEnv) -> None:
    response = env.call("POST", "/claims:check", json={"claim": "Vitamin D supplementation reduces hip fracture risk.",
                                                       "saved_query": "vit", "max_abstracts": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["abstracts"] and {a["pmid"] for a in body["abstracts"]} <= VITAMIN_PMIDS
    for abstract in body["abstracts"]:
        for sentence in abstract["rationale"]:
            assert abstract["text"][sentence["start_char"] : sentence["end_char"]] == sentence["text"]
    named = env.call("POST", "/claims:check", json={"claim": "Vitamin D prevents fractures.", "saved_query": "vit",
                                                    "knowledge_base": KB, "pmids": ["32000002"]})
    assert named.status_code == 200 and [a["pmid"] for a in named.json()["abstracts"]] == ["32000002"]


def test_contradictions_and_summaries_take_a_saved_query_too(env: PubMedEnv) -> None:
    sides = env.call("POST", "/contradictions", json={"claim": "Vitamin D prevents hip fractures.", "saved_query": "vit"})
    assert sides.status_code == 200, sides.text
    seen = [a["pmid"] for part in ("supporting", "contradicting", "undecided") for a in sides.json()[part]]
    assert seen and set(seen) <= VITAMIN_PMIDS
    summary = env.call("POST", "/summaries", json={"query": "vitamin D and fractures", "saved_query": "vit"})
    assert summary.status_code == 200, summary.text
    cited = {s["pmid"] for group in summary.json()["groups"] for s in group["sentences"]}
    assert cited and cited <= VITAMIN_PMIDS


def test_bad_saved_query_scopes_are_4xx_naming_the_field(env: PubMedEnv) -> None:
    assert env.call("POST", "/queries", json={"name": "unsynced", "term": "never run", "knowledge_base": KB}).status_code == 201
    claim = "Vitamin D prevents fractures."
    cases = [
        ({"claim": claim}, 400, "knowledge_base"),
        ({"claim": claim, "saved_query": "nope"}, 404, "saved_query"),
        ({"claim": claim, "saved_query": "unsynced"}, 404, "saved_query"),
        ({"claim": claim, "saved_query": "vit", "knowledge_base": "literature"}, 400, "saved_query"),
        ({"claim": claim, "saved_query": "vit", "pmids": ["32000003"]}, 404, "pmids[0]"),  # coffee's, in the same base
    ]
    for payload, status, field in cases:
        response = env.call("POST", "/claims:check", json=payload)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["error"]["param"] == field, (payload, response.json())
    job = env.call("POST", "/summaries:job", json={"query": "vitamin D", "saved_query": "nope"})
    assert job.status_code == 404 and job.json()["error"]["param"] == "saved_query"


def _chat(env: PubMedEnv, text: str, conversation_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": APP, "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    response = env.client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {env.key}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_chat_searches_pubmed_live_and_adds_papers_only_after_confirmation(env: PubMedEnv) -> None:
    from moesaic.llm.fake import call, reply_with_tools

    fake = env.platform.model
    before = {d.filename for d in env.documents("literature")}
    fake.add(reply_with_tools(call("search_pubmed", {"query": "vitamin d", "max_results": 5})), "Two papers [1][2].")
    searched = _chat(env, "What does PubMed have on vitamin D?")
    [event] = searched["tool_events"]
    found = json.loads(event["output"])
    assert found["count"] == 2 and {r["pmid"] for r in found["results"]} == VITAMIN_PMIDS
    assert {r["title"] for r in found["results"]} == {t for _, t, _ in VITAMIN_D} and {r["year"] for r in found["results"]} == {2024}
    assert {d.filename for d in env.documents("literature")} == before  # a search stores nothing

    add = call("add_pubmed_articles", {"pmids": ["32000001", "32000002", "39999999"]})
    fake.add(reply_with_tools(add), "Shall I add these two papers to the knowledge base?")
    held = _chat(env, "Add them to my library.", searched["conversation_id"])
    assert held["tool_events"][0]["error"] == "confirmation required"
    assert {d.filename for d in env.documents("literature")} == before
    fake.add(reply_with_tools(add), "Added.")
    done = _chat(env, "yes", searched["conversation_id"])
    output = json.loads(done["tool_events"][0]["output"])
    assert output["added"] == ["32000001", "32000002"] and output["not_found"] == ["39999999"]
    assert {"pubmed-32000001.md", "pubmed-32000002.md"} <= {d.filename for d in env.documents("literature")}


def test_an_unreachable_pubmed_is_a_tool_error_the_model_reads(env: PubMedEnv) -> None:
    from connectors.pubmed import load_settings
    from moesaic.llm.fake import call, reply_with_tools

    services = env.platform.app_context(APP).services
    kept = services["pubmed_settings"]
    services["pubmed_settings"] = load_settings(base_url="http://127.0.0.1:9/", backoff_s=0)
    try:
        env.platform.model.add(reply_with_tools(call("search_pubmed", {"query": "anything"})), "PubMed is unreachable.")
        answer = _chat(env, "Search PubMed for anything.")
    finally:
        services["pubmed_settings"] = kept
    [event] = answer["tool_events"]
    assert "PubMed search failed" in (event["error"] or event["output"] or "")
    assert answer["choices"][0]["message"]["content"] == "PubMed is unreachable."


def test_another_tenant_cannot_use_the_saved_query_as_a_scope(env: PubMedEnv) -> None:
    _, _, other = new_tenant_key(env.platform, role="viewer")
    response = env.call("POST", "/summaries", key=other, json={"query": "vitamin D", "saved_query": "vit"})
    assert response.status_code == 404 and response.json()["error"]["param"] == "saved_query"


def test_a_saved_query_whose_knowledge_base_the_key_may_not_use_is_refused(env: PubMedEnv,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate sees only the query's name; the route checks the query's knowledge base against the key. Here the
    # base is made to belong to another app, which this key (limited to literature_analysis) may not use.
    monkeypatch.setattr(env.platform, "knowledge_base_owner", lambda kb: "kb_assistant" if kb == KB else None)
    claim = "Vitamin D prevents fractures."
    for path, body, field in (("/claims:check", {"claim": claim, "saved_query": "vit"}, "saved_query"),
                              ("/contradictions", {"claim": claim, "saved_query": "vit"}, "saved_query"),
                              ("/summaries", {"query": "vitamin D", "saved_query": "vit"}, "saved_query"),
                              ("/summaries:job", {"query": "vitamin D", "saved_query": "vit"}, "saved_query"),
                              ("/queries/vit:sync", None, "name")):
        answer = env.call("POST", path, json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["param"] == field and "kb_assistant" in answer.json()["error"]["message"]
    monkeypatch.undo()
    assert env.call("POST", "/claims:check", json={"claim": claim, "saved_query": "vit"}).status_code == 200
