"""Fixtures for the console tests: a live fake API over real HTTP, and AppTest page builders."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_moesaic_api import API_KEY, LiveServer, FakeState, create_fake_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "ui" / "core_pages"


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[LiveServer, FakeState]]:
    state = FakeState()
    with LiveServer(create_fake_app(state)) as server:
        yield server, state


@pytest.fixture
def fake_api(fake_server: tuple[LiveServer, FakeState]) -> Iterator[FakeState]:
    """The fake's state, fresh for each test; ``fake_api.url`` is where it listens."""
    server, state = fake_server
    state.__dict__.update(FakeState().__dict__)
    state.url = server.url  # type: ignore[attr-defined]
    yield state


PageFactory = Callable[..., AppTest]


@pytest.fixture
def open_page(fake_api: FakeState) -> PageFactory:
    """``open_page("chat")`` -> an AppTest of ui/core_pages/chat.py connected to the fake API."""

    def build(name: str, *, api_key: str = API_KEY, url: str | None = None) -> AppTest:
        path = ROOT / "ui" / "app.py" if name == "app" else PAGES / f"{name}.py"
        at = AppTest.from_file(str(path), default_timeout=20)
        at.session_state["api_url"] = url or fake_api.url  # type: ignore[attr-defined]
        at.session_state["api_key"] = api_key
        return at

    return build
