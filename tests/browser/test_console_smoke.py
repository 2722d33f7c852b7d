"""Browser smoke test: every console page, core and app pages, in a real Chromium against a live API.

``make test-browser`` runs it (``.ci/run`` does, after ``make test``); the default suite leaves it out
(marker ``browser``). It uses Debian's Chromium at /usr/bin/chromium through Playwright and never
downloads a browser: a missing Chromium or Playwright fails the test, it does not skip it. Each page
must finish its script run with no Streamlit exception box, no error alert and no JavaScript page
error; a screenshot of each goes to ``MOESAIC_BROWSER_SHOTS`` (a temporary folder when unset).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.servers import Stack, live_stack
from ui.contributions import installed

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 60_000
# Elements load their code after the script run: wait until no placeholder is left and every visible
# table has drawn its grid (a table in a closed expander draws none).
SETTLED = ("!document.querySelector('[data-testid=stSkeleton]') && [...document.querySelectorAll("
           "'[data-testid=stDataFrame]')].every(t => !t.checkVisibility() || t.querySelector('canvas'))")
ORDER_ID = "#W1000001"  # in customer_service's demo store
OWNER = "ada.lane@example.com"  # its customer: orders are shown only after authentication
# A deep link first (/metrics): on a console no session has opened yet, Streamlit serves it straight from a
# pages/ folder beside ui/app.py if there is one, without the navigation (and so without any app page).
CORE_PAGES = [("metrics", "Metrics"), ("knowledge", "Knowledge"), ("inbox", "Operator inbox"), ("", "Chat")]
APP_PAGES = [(page.url_path, page.title) for _, c in sorted(installed().apps.items()) for page in c.pages]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("browser-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def conversation(stack: Stack) -> str:
    """A customer_service conversation with an order lookup, handed off so the inbox has it too."""
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as api:
        reply = api.post("/v1/chat/completions", json={
            "model": "customer_service", "messages": [{"role": "user", "content": f"I am {OWNER}. Where is my order {ORDER_ID}?"}]})
        reply.raise_for_status()
        conversation_id = str(reply.json()["conversation_id"])
        assert [e["name"] for e in reply.json()["tool_events"]] == ["find_user_id_by_email", "get_order_details"]
        api.post(f"/v1/conversations/{conversation_id}/handoff", json={"summary": "Smoke test"}).raise_for_status()
    return conversation_id


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("MOESAIC_BROWSER_SHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -r requirements-browser.txt (make test-browser does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


def open_page(browser: Any, url: str, shot: Path) -> tuple[Any, list[str]]:
    """Load ``url``, wait for the script run to finish, screenshot it; return the page and its JS errors."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector("h1", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(SETTLED, timeout=PAGE_TIMEOUT_MS)
    page.screenshot(path=str(shot), full_page=True)
    return page, page_errors


def problems_on(page: Any, page_errors: list[str]) -> list[str]:
    found = [f"exception box: {t}" for t in page.locator("[data-testid=stException]").all_inner_texts()]
    found += [f"error alert: {t}" for t in page.locator("[data-testid=stAlertContentError]").all_inner_texts()]
    return found + [f"page error: {e}" for e in page_errors]


def test_an_app_page_is_installed() -> None:
    assert ("customer-service-review", "Case review") in APP_PAGES


@pytest.mark.parametrize(("url_path", "title"), CORE_PAGES + APP_PAGES, ids=[t for _, t in CORE_PAGES + APP_PAGES])
def test_console_page_opens_without_errors(browser: Any, stack: Stack, conversation: str, shots: Path,
                                           url_path: str, title: str) -> None:
    page, page_errors = open_page(browser, f"{stack.console_url}/{url_path}", shots / f"{url_path or 'chat'}.png")
    try:
        assert not problems_on(page, page_errors)
        navigation = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert all(t in navigation for _, t in CORE_PAGES + APP_PAGES), navigation
        if url_path == "customer-service-review":
            assert f"Order {ORDER_ID}" in page.locator("[data-testid=stMain]").inner_text()
    finally:
        page.close()


def test_chat_shows_customer_service_order_card_from_history(browser: Any, stack: Stack, conversation: str,
                                                              shots: Path) -> None:
    url = f"{stack.console_url}/?app=customer_service&conversation={conversation}"
    page, page_errors = open_page(browser, url, shots / "chat-customer-service.png")
    try:
        assert not problems_on(page, page_errors)
        tool_call = page.locator("[data-testid=stExpander]", has_text="Tool call: get_order_details").first
        tool_call.locator("summary").click()
        tool_call.get_by_text(f"Order {ORDER_ID} · pending").wait_for(timeout=PAGE_TIMEOUT_MS)  # the app's card
        page.screenshot(path=str(shots / "chat-customer-service-card.png"), full_page=True)
    finally:
        page.close()
