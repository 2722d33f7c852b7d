"""``POST /v1/apps/literature_analysis/summaries``: extractive (query-focused, redundancy-aware, grouped,
every sentence cited with exact offsets) and abstractive with the scripted fake model."""

from __future__ import annotations

import json
import re

from tests.apps.literature_analysis.conftest import KB, Env

URL = "/v1/apps/literature_analysis/summaries"


def test_extractive_summary_cites_every_sentence_with_exact_offsets(env: Env) -> None:
    response = env.client.post(URL, json={"query": "Does vitamin D reduce hip fractures?", "knowledge_base": KB,
                                          "pmids": ["31000001", "31000002", "31000003"], "max_sentences": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    sentences = [s for group in body["groups"] for s in group["sentences"]]
    assert body["mode"] == "extractive" and body["abstracts"] == 3 and 1 <= len(sentences) <= 4
    assert [s["citation"] for s in sentences] == list(range(1, len(sentences) + 1))
    for sentence in sentences:
        assert env.text(sentence["document_id"])[sentence["start_char"] : sentence["end_char"]] == sentence["text"]
        assert f"{sentence['text']} [{sentence['citation']}]" in body["text"]
    assert {s["pmid"] for s in sentences} >= {"31000001", "31000002"}  # both sides of the finding
    assert "31000003" not in {s["pmid"] for s in sentences[:2]}  # the coffee paper is not what was asked
    assert len({s["text"] for s in sentences}) == len(sentences)
    # every sentence of the text ends with a marker
    assert all(re.search(r"\[\d+\]$", part.strip()) for part in re.split(r"(?<=\])\s+", body["text"]) if part.strip())


def test_abstractive_summary_keeps_only_markers_of_the_numbered_sentences(env: Env) -> None:
    env.fake.add("Vitamin D lowered hip fractures in one trial [1] but not in a pooled analysis [2] [9].")
    response = env.client.post(URL, json={"query": "vitamin D and hip fracture", "knowledge_base": KB,
                                          "pmids": ["31000001", "31000002"], "mode": "abstractive", "max_sentences": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "[9]" not in body["text"] and "[1]" in body["text"] and "[2]" in body["text"]
    prompt = env.fake.requests[-1].messages[-1].content
    assert prompt.startswith("Question: vitamin D and hip fracture") and "[1] " in prompt


def test_summary_bad_input(env: Env) -> None:
    for payload, status, field in (
        ({"query": "", "knowledge_base": KB}, 400, "query"),
        ({"query": "vitamin D", "knowledge_base": KB, "mode": "poem"}, 400, "mode"),
        ({"query": "vitamin D", "knowledge_base": KB, "pmids": ["123"]}, 404, "pmids[0]"),
        ({"query": "vitamin D", "knowledge_base": KB, "max_sentences": 0}, 422, "max_sentences"),
    ):
        response = env.client.post(URL, json=payload)
        assert response.status_code == status, (payload, response.text)
        assert field in json.dumps(response.json())


def test_a_large_summary_runs_as_a_job_whose_result_is_the_summary(env: Env) -> None:
    import time

    payload = {"query": "Does vitamin D reduce hip fractures?", "knowledge_base": KB, "pmids": ["31000001", "31000002", "31000003"],
               "max_sentences": 3}
    response = env.client.post(URL + ":job", json=payload)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while (job := env.client.get(f"/v1/jobs/{job_id}").json())["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["state"] == "succeeded", job
    direct = env.client.post(URL, json=payload).json()
    assert job["result"]["text"] == direct["text"] and job["result"]["groups"] == direct["groups"]
    failed = env.client.post(URL + ":job", json={**payload, "pmids": ["42"]}).json()["job_id"]
    deadline = time.monotonic() + 60
    while (job := env.client.get(f"/v1/jobs/{failed}").json())["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["state"] == "failed" and "42" in job["error"], job
