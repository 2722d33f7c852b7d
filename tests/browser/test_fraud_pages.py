"""fraud_detection's console pages in a real Chromium against the live stack (``moesaic serve``, ``moesaic ui``)
with data stored through the API: a history, one scored day and its budget cases. The dashboard draws its
charts, the queue lists the day's cases highest score first, and the case page shows the reasons and labels
the case through its button (the API then has it as fraud).

Marker ``browser`` (``make test-browser``); Debian's Chromium through Playwright, as the smoke test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from apps.fraud_detection.schema import validate_frame
from apps.fraud_detection.simulate import simulate_transactions
from tests.apps.fraud_detection.conftest import BASE, as_records
from tests.browser.servers import Stack, live_stack
from tests.browser.test_console_smoke import PAGE_TIMEOUT_MS, browser, open_page, problems_on  # noqa: F401

pytestmark = pytest.mark.browser

BUDGET = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("fraud-browser-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def cases_day(stack: Stack) -> str:
    """Store 24 days of history, score the 25th one transaction at a time, open that day's budget cases."""
    history = validate_frame(simulate_transactions(num_customers=30, num_terminals=40, num_days=25, seed=2))
    cut = history["TX_DATETIME"].min().floor("D") + pd.Timedelta(days=24)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as api:
        stored = api.post(f"{BASE}/transactions", json={"transactions": as_records(history[history["TX_DATETIME"] < cut])})
        assert stored.status_code == 201, stored.text
        for record in as_records(history[history["TX_DATETIME"] >= cut].drop(columns=["TX_FRAUD"])):
            assert api.post(f"{BASE}/score", json=record).status_code == 200
        api.put(f"{BASE}/alerts/settings", json={"daily_budget": BUDGET}).raise_for_status()
        opened = api.post(f"{BASE}/alerts:run", json={"day": f"{cut:%Y-%m-%d}"}).json()["opened"]
        assert len(opened) == BUDGET, opened
    return f"{cut:%Y-%m-%d}"


def _main_text(page: Any) -> str:
    return str(page.locator("[data-testid=stMain]").inner_text())


def test_the_dashboard_draws_its_charts(browser: Any, stack: Stack, cases_day: str, tmp_path: Path) -> None:  # noqa: F811
    page, page_errors = open_page(browser, f"{stack.console_url}/fraud-detection-dashboard", tmp_path / "dashboard.png")
    try:
        assert not problems_on(page, page_errors)
        text = _main_text(page)
        assert "Score distribution" in text and "Alerts per day" in text, text
        page.wait_for_selector("[data-testid=stVegaLiteChart]", timeout=PAGE_TIMEOUT_MS)
        assert page.locator("[data-testid=stVegaLiteChart]").count() >= 2  # scores and alerts per day
    finally:
        page.close()


def test_the_queue_lists_the_days_cases(browser: Any, stack: Stack, cases_day: str, tmp_path: Path) -> None:  # noqa: F811
    page, page_errors = open_page(browser, f"{stack.console_url}/fraud-detection-queue", tmp_path / "queue.png")
    try:
        assert not problems_on(page, page_errors)
        assert f"{BUDGET} case(s), highest score first" in _main_text(page)
        assert page.locator("[data-testid=stDataFrame]").count() == 1
    finally:
        page.close()


def test_the_case_page_shows_reasons_and_labels_the_case(browser: Any, stack: Stack, cases_day: str,  # noqa: F811
                                                         tmp_path: Path) -> None:
    page, page_errors = open_page(browser, f"{stack.console_url}/fraud-detection-case", tmp_path / "case.png")
    try:
        assert not problems_on(page, page_errors)
        text = _main_text(page)
        assert "Why it was flagged" in text and "Customer's recent transactions" in text, text
        assert cases_day in text
        page.get_by_role("button", name="Label fraud").click()
        page.locator("[data-testid=stAlertContentSuccess]", has_text="Labelled fraud").wait_for(timeout=PAGE_TIMEOUT_MS)
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "labelled.png"), full_page=True)
    finally:
        page.close()
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    labelled = httpx.get(f"{stack.api_url}{BASE}/cases", params={"status": "fraud"}, headers=headers, timeout=30).json()
    assert labelled["total"] == 1 and labelled["data"][0]["day"] == cases_day
