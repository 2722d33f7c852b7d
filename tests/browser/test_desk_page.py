"""The operator desk in a real Chromium against the live stack (``moesaic serve`` offline, ``moesaic ui``): a
return the bot handed off shows with its customer and orders, a new customer message appears without a reload,
and the operator runs the return through the desk panel's confirmation; the store and the audit log show it.

Marker ``browser`` (``make test-browser``); Debian's Chromium through Playwright, as the smoke test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.servers import Stack, live_stack
from tests.browser.test_console_smoke import PAGE_TIMEOUT_MS, browser, open_page, problems_on  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser

OWNER, ORDER_ID, ITEM_ID = "ada.lane@example.com", "#W1000002", "2000000021"  # a delivered order in the demo store


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("desk-browser-stack")) as running:
        yield running


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60)


def say(client: httpx.Client, text: str, conversation_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "customer_service", "messages": [{"role": "user", "content": text}]}
    if conversation_id:
        body["conversation_id"] = conversation_id
    reply = client.post("/v1/chat/completions", json=body)
    reply.raise_for_status()
    return dict(reply.json())


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit select (or multiselect) labelled ``label``."""
    page.get_by_label(label).first.click()
    page.get_by_role("option", name=option).first.click()
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=PAGE_TIMEOUT_MS)


def test_desk_shows_the_customer_refreshes_and_runs_a_confirmed_return(browser: Any, stack: Stack, tmp_path: Path) -> None:
    with api(stack) as client:
        conversation = say(client, f"I am {OWNER}")["conversation_id"]
        say(client, f"I want to return the headphones from order {ORDER_ID}, they arrived broken", conversation)
        assert say(client, "yes", conversation)["conversation_state"] == "handed_off"

        page, page_errors = open_page(browser, f"{stack.console_url}/inbox", tmp_path / "desk.png")
        try:
            assert not problems_on(page, page_errors)
            main = page.locator("[data-testid=stMain]")
            main.get_by_text("Customer ada_lane_1001 · identified by email").first.wait_for(timeout=PAGE_TIMEOUT_MS)  # the app's panel
            main.get_by_text(f"{ORDER_ID} · delivered").first.wait_for(timeout=PAGE_TIMEOUT_MS)

            say(client, "Is anyone there? It is urgent.", conversation)  # no reload: the fragment picks it up
            main.get_by_text("It is urgent").first.wait_for(timeout=PAGE_TIMEOUT_MS)

            choose(page, "Action", "Return items")
            choose(page, "Items", ITEM_ID)
            reason = page.get_by_label("Reason")
            reason.fill("arrived broken")
            reason.press("Enter")
            page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=PAGE_TIMEOUT_MS)
            page.get_by_role("button", name="Review the return").click()
            main.get_by_text("Please confirm").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert client.get(f"/v1/conversations/{conversation}/tool-calls").json()["data"][-1]["name"] != \
                "return_delivered_order_items"  # nothing ran before the confirmation
            page.get_by_role("button", name="Confirm").click()
            main.get_by_text("Done: return items").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            page.screenshot(path=str(tmp_path / "desk-done.png"), full_page=True)
            assert not problems_on(page, page_errors)
        finally:
            page.close()

        calls = client.get(f"/v1/conversations/{conversation}/tool-calls").json()["data"]
        assert calls[-1]["name"] == "return_delivered_order_items" and "return requested" in calls[-1]["output"]
        audit = client.get("/v1/audit", params={"action": "desk tool return_delivered_order_items"}).json()["data"]
        assert audit and audit[0]["detail"]["reason"] == "arrived broken" and audit[0]["target"] == conversation
