"""The Answers page against the platform's real API (offline extractive model): pin, see it served, unpin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fake_moesaic_api import LiveServer

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Do you ship abroad?"
PINNED = "Yes, to 30 countries; see the shipping page."


@pytest.fixture(scope="module")
def real_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, object]]:
    from apps.kb_assistant.manifest import APP
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.services import Platform

    tmp_path = tmp_path_factory.mktemp("answers-page")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'moesaic.db'}")
    platform = Platform.create(settings, apps={APP.name: APP.model_copy(update={"knowledge_documents": None})})
    key = create_api_key(platform.db, "answers-page", name="console")
    try:
        with LiveServer(create_app(platform=platform), lifespan="on") as server:
            yield server.url, key, platform
    finally:
        platform.close()


def _page(url: str, key: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "ui" / "core_pages" / "answers.py"), default_timeout=60)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def test_pin_a_curated_answer_see_it_served_and_unpin_it(real_api) -> None:  # type: ignore[no-untyped-def]
    import httpx

    url, key, _platform = real_api
    page = _page(url, key).run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert "No pinned answers" in "\n".join(c.value for c in page.caption)
    page.text_input[0].set_value(QUESTION)
    page.text_area[0].set_value(PINNED)
    page.button[0].click().run()  # the form's Pin button
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert any(QUESTION in m.value and PINNED in m.value for m in page.markdown)

    reply = httpx.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                       json={"model": "kb_assistant", "messages": [{"role": "user", "content": "do you ship ABROAD"}]})
    assert reply.json()["choices"][0]["message"]["content"] == PINNED
    page.run()
    assert page.metric[0].value == "100%"  # one lookup, one (pinned) hit
    assert any("1 hits" in c.value for c in page.caption)
    metrics_page = AppTest.from_file(str(ROOT / "ui" / "core_pages" / "metrics.py"), default_timeout=60)
    metrics_page.session_state["api_url"], metrics_page.session_state["api_key"] = url, key
    cards = {m.label: m.value for m in metrics_page.run().metric}
    assert cards["Answer cache hit rate"] == "100%" and cards["Model time saved"] == "—"  # a pinned answer saves nothing measured

    [unpin] = [b for b in page.button if b.label == "Unpin"]
    unpin.click().run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert "No pinned answers" in "\n".join(c.value for c in page.caption)
