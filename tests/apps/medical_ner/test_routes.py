"""``POST /v1/apps/medical_ner/extract`` behind the gate: one text, a list, modes, and 4xx that name the field."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.medical_ner.manifest import APP
from apps.medical_ner.tagger import Tagger
from moesaic.config import Settings
from moesaic.llm import FakeChatModel

URL = "/v1/apps/medical_ner/extract"


@pytest.fixture()
def fake() -> FakeChatModel:
    return FakeChatModel()


@pytest.fixture()
def client(tmp_path: Path, tagger: Tagger, fake: FakeChatModel) -> Iterator[TestClient]:
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'm.db'}", datasets_dir=tmp_path / "none")
    platform = Platform.create(settings, model=fake, apps={APP.name: APP}, start_worker=False)
    platform.app_context(APP.name).services["tagger"] = tagger  # the session's loaded model (warmup would load it)
    key = create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}", role="viewer")
    with TestClient(create_app(platform=platform)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client
    platform.close()


def test_one_text_returns_entities_with_exact_offsets_for_a_viewer_key(client: TestClient) -> None:
    text = "Denies chest pain.\r\nOn metformin for type 2 diabetes."
    response = client.post(URL, json={"text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"].startswith("minilm-l6-lora-") and body["mode"] == "model"
    entities = body["results"][0]["entities"]
    assert {(e["text"], e["label"], e["assertion"]) for e in entities} >= {
        ("chest pain", "problem", "absent"), ("metformin", "treatment", "present"), ("type 2 diabetes", "problem", "present")}
    assert all(text[e["start"] : e["end"]] == e["text"] and e["source"] == "model" for e in entities)


def test_a_list_of_texts_and_a_label_filter(client: TestClient) -> None:
    response = client.post(URL, json={"texts": ["Aspirin for fever.", "No asthma."], "labels": ["problem"]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [[e["text"] for e in r["entities"]] for r in results] == [["fever"], ["asthma"]]


def test_hybrid_mode_adds_llm_tests(client: TestClient, fake: FakeChatModel) -> None:
    fake.add(json.dumps({"entities": [{"text": "CBC", "label": "test"}, {"text": "gremlins", "label": "problem"}]}))
    response = client.post(URL, json={"text": "CBC showed anemia.", "mode": "hybrid"})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert ("CBC", "test", "llm") in {(e["text"], e["label"], e["source"]) for e in result["entities"]}
    assert result["num_llm_dropped"] == 1


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"text": ""}, 400, "text"),
        ({"text": "x" * 100_001}, 400, "text"),
        ({"texts": ["ok", "  "]}, 400, "texts[1]"),
        ({"text": "fever", "mode": "magic"}, 400, "mode"),
        ({"text": "fever", "labels": ["gene"]}, 400, "labels"),
        ({"text": "fever", "texts": ["fever"]}, 400, "text"),
        ({}, 400, "text"),
        ({"texts": ["a"] * 65}, 422, "texts"),
        ({"text": 5}, 422, "text"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(client: TestClient, body: dict[str, Any], status: int, param: str) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_no_key_is_refused(client: TestClient) -> None:
    response = client.post(URL, json={"text": "fever"}, headers={"Authorization": ""})
    assert response.status_code == 401


def test_the_model_card_route_describes_the_shipped_model_for_a_viewer_key(client: TestClient) -> None:
    from apps.medical_ner.model import read_config
    from apps.medical_ner.tagger import DEFAULT_ARTEFACT

    response = client.get("/v1/apps/medical_ner/model")
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["model_version"] == client.post(URL, json={"text": "No fever."}).json()["model_version"]
    assert card["devel"] == read_config(DEFAULT_ARTEFACT).extra["devel"]
    assert card["train_corpora"] == ["NCBI-disease", "BC5CDR"] and card["method"] == "lora" and card["lora_rank"] == 32
    assert card["model_labels"] == ["problem", "treatment"] and "test" in card["llm_labels"]
    assert card["llm_available"] is True  # the scripted fake is a chat model
    assert "## Limits" in card["card_markdown"]
    unauthenticated = client.get("/v1/apps/medical_ner/model", headers={"Authorization": "Bearer msk-nope"})
    assert unauthenticated.status_code == 401


def test_over_the_size_limit_names_the_limit_and_the_field(client: TestClient) -> None:
    from apps.medical_ner.entities import MAX_TEXT_CHARS

    response = client.post(URL, json={"text": "fever " * (MAX_TEXT_CHARS // 6 + 1)})
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "text"
    assert f"the limit is {MAX_TEXT_CHARS}" in error["message"] and "job" in error["message"]
    response = client.post(URL, json={"texts": ["fever"] * 65})
    assert response.status_code == 422 and response.json()["error"]["param"] == "texts"
    assert "64" in response.json()["error"]["message"]
