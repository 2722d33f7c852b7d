"""The console against the platform's real API (extractive model, SQLite, Chroma, MiniLM) over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fake_moesaic_api import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "apps" / "kb_assistant" / "seed" / "returns-policy.txt"

main = pytest.importorskip("moesaic.api.main", reason="the REST API is not built yet")


@pytest.fixture(scope="module")
def real_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from moesaic.config import Settings
    from moesaic.access import create_api_key
    from moesaic.services import Platform

    from apps.kb_assistant.manifest import APP  # after moesaic, which completes AppManifest

    tmp_path = tmp_path_factory.mktemp("real-api")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'moesaic.db'}")
    platform = Platform.create(settings, apps={APP.name: APP})  # the default, offline extractive model
    key = create_api_key(platform.db, "ui-test", name="console")
    try:
        with LiveServer(main.create_app(platform=platform), lifespan="on") as server:
            yield server.url, key
    finally:
        platform.close()


def _page(name: str, url: str, key: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "ui" / "core_pages" / f"{name}.py"), default_timeout=60)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def test_upload_index_and_ask_through_the_real_api(real_api: tuple[str, str]) -> None:
    url, key = real_api
    knowledge = _page("knowledge", url, key)
    knowledge.session_state["kb_name"] = "default"
    knowledge.run()
    assert not knowledge.exception and not knowledge.error, [e.value for e in knowledge.error]
    knowledge.file_uploader[0].set_value((SEED.name, SEED.read_bytes(), "text/plain"))
    knowledge.button[0].click().run()
    assert not knowledge.exception and not knowledge.error, [e.value for e in knowledge.error]

    deadline = time.monotonic() + 60  # the in-process worker parses, embeds and indexes it
    while True:
        knowledge.run()
        statuses = [s.split()[-1] for s in knowledge.dataframe[0].value["status"]]
        if statuses == ["indexed"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert statuses == ["indexed"], knowledge.dataframe[0].value.to_dict("records")
    assert knowledge.session_state["kb_pending"] is False

    chat = _page("chat", url, key).run()
    assert not chat.exception and not chat.error
    chat.chat_input[0].set_value("How many days do I have to return an item?").run()
    assert not chat.exception and not chat.error
    answer = "\n".join(m.value for m in chat.markdown)
    assert "30 days" in answer
    assert any(e.label.startswith("[1]") for e in chat.expander)
    assert chat.session_state["conversation_id"]
    chat.run()  # the stored conversation renders from GET /messages
    assert "30 days" in "\n".join(m.value for m in chat.markdown)


def test_hand_off_claim_reply_and_resolve_through_the_real_api(real_api: tuple[str, str]) -> None:
    url, key = real_api
    chat = _page("chat", url, key).run()
    chat.chat_input[0].set_value("I need a person, please.").run()
    assert not chat.exception and not chat.error
    conversation_id = chat.session_state["conversation_id"]
    next(b for b in chat.sidebar.button if "Hand off" in b.label).click().run()
    assert not chat.exception and not chat.error, [e.value for e in chat.error]
    assert any("An operator has this conversation" in i.value for i in chat.info)

    inbox = _page("inbox", url, key).run()
    assert not inbox.exception and not inbox.error
    assert list(inbox.dataframe[0].value["id"]) == [conversation_id]
    next(b for b in inbox.button if "Claim" in b.label).click().run()
    assert not inbox.error, [e.value for e in inbox.error]
    assert list(inbox.dataframe[0].value["state"]) == ["claimed"]
    inbox.chat_input[0].set_value("Hello, this is Alice from support.").run()
    assert not inbox.error, [e.value for e in inbox.error]
    assert any("Alice from support" in m.value for m in inbox.markdown)
    next(b for b in inbox.button if "Resolve" in b.label).click().run()
    assert not inbox.error and inbox.success  # the inbox is empty again

    chat.run()  # the customer's side shows the operator's reply in the same conversation
    assert any("Alice from support" in m.value for m in chat.markdown)
