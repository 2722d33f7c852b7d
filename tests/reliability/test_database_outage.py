"""Finding 4 of issue 16: while the database is unreachable the API answers 503 with ``Retry-After`` and a
clear message in OpenAI's shape (not a plain-text 500), and recovers by itself when it comes back."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moesaic.config import Settings
from tests.conftest import DATASETS_DIR


@pytest.fixture
def outage_client(tmp_path: Path, fake_model) -> Iterator[tuple[TestClient, Path]]:  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    db_dir = tmp_path / "db"
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{db_dir / 'moesaic.db'}",
                        datasets_dir=DATASETS_DIR, ingest_worker=False)
    platform = Platform.create(settings, model=fake_model, apps={APP.name: APP})
    key = create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}")
    try:
        with TestClient(create_app(platform=platform), raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            yield client, db_dir
    finally:
        platform.close()


def _take_away(db_dir: Path) -> Path:
    """The database's disk goes away: its folder is replaced by a plain file, so no connection opens."""
    gone = db_dir.with_name("db-gone")
    os.rename(db_dir, gone)
    db_dir.write_text("not a folder")
    return gone


def _bring_back(db_dir: Path, gone: Path) -> None:
    db_dir.unlink()
    os.rename(gone, db_dir)


def test_database_outage_is_503_with_retry_after_then_recovers(outage_client) -> None:  # type: ignore[no-untyped-def]
    client, db_dir = outage_client
    assert client.get("/v1/apps/kb_assistant/conversations").status_code == 200
    client.app.state.platform.db.dispose()  # drop pooled connections, as a restarted server would lose them
    gone = _take_away(db_dir)
    try:
        for method, path, body in [
            ("GET", "/v1/apps/kb_assistant/conversations", None),
            ("POST", "/v1/chat/completions", {"model": "kb_assistant", "messages": [{"role": "user", "content": "hi"}]}),
            ("GET", "/v1/knowledge-bases", None),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert int(response.headers["Retry-After"]) > 0
            error = response.json()["error"]
            assert error["type"] == "service_unavailable_error" and error["code"] == "database_unavailable"
            assert "database" in error["message"] and "retry" in error["message"]
    finally:
        _bring_back(db_dir, gone)
    assert client.get("/v1/apps/kb_assistant/conversations").status_code == 200  # recovered by itself
