"""contract_app's console page: loaded as a ``moesaic.pages`` contribution, held to the console's import
rule, and rendered in Streamlit AppTest against the real API (a live uvicorn over the platform with the
app and its embedded job queue): it lists the notes, queues the app's job and shows its outcome."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tests.apps.contract_app.pages as contract_pages
import ui.contributions as contributions
from moesaic.access import create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from tests.apps.contract_app.manifest import APP
from tests.ui.fake_moesaic_api import LiveServer
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(contract_pages.__file__).parent
NOTES_PAGE = PAGES / "notes.py"


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(url, key): the real API with contract_app, its jobs run by the embedded queue."""
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    tmp_path = tmp_path_factory.mktemp("contract-page")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'moesaic.db'}",
                        datasets_dir=tmp_path / "none")
    platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP}, start_worker=True)
    key = create_api_key(platform.db, "console", name="console")
    try:
        with LiveServer(create_app(platform=platform), lifespan="on") as server:
            yield server.url, key
    finally:
        platform.close()


def page(path: Path, url: str, key: str) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=30)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def test_the_contribution_loads_and_its_modules_import_no_core() -> None:
    contribution = contributions.load_contribution(APP.name, contract_pages)
    assert [(p.title, p.path, p.url_path) for p in contribution.pages] == [("Notes", NOTES_PAGE, "contract-app-notes")]
    package = "tests.apps.contract_app.pages"
    assert {path.name: page_violations(path, package) for path in PAGES.rglob("*.py")} == {"__init__.py": set(),
                                                                                         "notes.py": set()}
    probe = (f"import sys, {package}; loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; "
             "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_the_page_lists_notes_and_adds_them_through_the_apps_job(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(NOTES_PAGE, url, key).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "🗒️ Notes" and at.info[0].value == "No notes yet."

    at.text_area[0].set_value("buy milk\n\n  call Ann  ")
    at.button[0].click().run()  # the form's submit button: POST notes:bulk queues the job
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = at.session_state["contract_app_job"]
    deadline = time.monotonic() + 30
    while f"Job {job_id}: succeeded" not in [c.value for c in at.caption] and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert f"Job {job_id}: succeeded" in [c.value for c in at.caption]
    assert list(at.dataframe[0].value["note"]) == ["buy milk", "call Ann"]


def test_the_page_shows_the_apis_refusal(live_api: tuple[str, str]) -> None:
    url, _ = live_api
    at = page(NOTES_PAGE, url, "msk-not-a-key").run()
    assert not at.exception
    assert "401" in at.error[0].value


def test_the_console_lists_the_page_for_a_key_that_may_use_the_app(live_api: tuple[str, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    found = contributions.discover([EntryPoint(APP.name, "tests.apps.contract_app.pages", contributions.GROUP)])
    monkeypatch.setattr(contributions, "installed", lambda: found)
    url, key = live_api
    at = page(ROOT / "ui" / "app.py", url, key).run()
    assert not at.exception
    at.switch_page(str(Path("..") / NOTES_PAGE.relative_to(ROOT))).run()
    assert not at.exception and at.title[0].value == "🗒️ Notes"
