"""/readyz says ready only after the server has loaded what the first question needs (the embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from apps.kb_assistant.manifest import APP as KB_APP
from moesaic.config import Settings


def create_owned_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from moesaic.api.main import create_app

    monkeypatch.setattr("moesaic.services.load_apps", lambda: {KB_APP.name: KB_APP})
    return create_app(Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False))


def test_embedder_is_loaded_before_readyz_says_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_owned_app(tmp_path, monkeypatch)) as client:
        knowledge = client.app.state.platform.knowledge  # type: ignore[attr-defined]
        assert "embedder:minilm" in knowledge._loaded  # loaded at start-up, not by the first question
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["embedder"] == "ready"


def test_readyz_is_not_ready_when_the_embedder_cannot_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing_model():  # type: ignore[no-untyped-def]
        raise FileNotFoundError("MiniLM model files missing")

    monkeypatch.setattr("moesaic.retrieval.service.default_embedder", missing_model)
    with TestClient(create_owned_app(tmp_path, monkeypatch)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["embedder"] == "error"  # the reason goes to the log, not to the public probe
