"""The chat app: listed in ``/v1/models``; its tools (check_claim, summarise_literature, fetch_abstract)
run the offline models over the app's knowledge base and hand the model JSON with the deciding sentences."""

from __future__ import annotations

import json

from moesaic.llm.base import ModelReply, ModelRequest
from moesaic.llm.fake import call, reply_with_tools
from tests.apps.literature_analysis.conftest import Env


def _chat(env: Env, content: str):  # type: ignore[no-untyped-def]
    return env.client.post("/v1/chat/completions", json={"model": "literature_analysis", "messages": [{"role": "user", "content": content}]})


def test_the_app_is_a_chat_model(env: Env) -> None:
    response = env.client.get("/v1/models")
    assert response.status_code == 200, response.text
    assert "literature_analysis" in {m["id"] for m in response.json()["data"]}


def test_tools_check_a_claim_and_summarise_from_the_knowledge_base(env: Env) -> None:
    seen: dict[str, str] = {}

    def answer(request: ModelRequest) -> ModelReply:
        for message in request.messages:
            if message.role == "tool":
                seen[str(getattr(message, "name", "") or len(seen))] = message.content
        return ModelReply(content="Yes: vitamin D reduced hip fractures in a randomised trial.")

    env.fake.add(
        reply_with_tools(call("check_claim", {"claim": "Vitamin D supplementation reduces the risk of hip fracture.", "pmids": ["31000001"]})),
        reply_with_tools(call("summarise_literature", {"query": "vitamin D and hip fracture", "pmids": ["31000001", "31000002"], "max_sentences": 2})),
        reply_with_tools(call("fetch_abstract", {"pmid": "99999999"})),
        answer,
    )
    response = _chat(env, "Does vitamin D prevent hip fractures?")
    assert response.status_code == 200, response.text
    results = list(seen.values())
    check = json.loads(results[0])
    assert check["abstracts"][0]["pmid"] == "31000001" and check["verdict"] in ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO", "MIXED")
    assert all(isinstance(s, str) and s for a in check["abstracts"] for s in a["rationale"])
    summary = json.loads(results[1])
    assert 1 <= sum(len(g) for g in summary["summary"]) <= 2
    assert "99999999" in results[2] and "not an indexed abstract" in results[2]  # the tool's error, told to the model
