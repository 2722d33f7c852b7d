"""literature_analysis's console pages in a real Chromium against the live stack (``moesaic serve`` with the
shipped claim-check models, offline, and its embedded job queue; ``moesaic ui``), PubMed being a fake
E-utilities server on loopback: a saved query synced as a job shows as succeeded, and a claim checked
against it shows its verdict with the rationale sentence highlighted inside the abstract.

Marker ``browser`` (``make test-browser``); Debian's Chromium through Playwright, as the smoke test.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.pubmed_fake import FakeEUtilsServer
from tests.apps.literature_analysis.pubmed_env import VITAMIN_D, record
from tests.browser.servers import Stack, live_stack
from tests.browser.test_console_smoke import PAGE_TIMEOUT_MS, browser, open_page, problems_on  # noqa: F401 (fixture)
from tests.browser.test_medical_ner_page import settle

pytestmark = pytest.mark.browser

APP_URL = "/v1/apps/literature_analysis"
KB = "papers"
CLAIM = "Vitamin D supplementation reduces the risk of hip fracture."
SENTENCES = {s for _, _, sentences in VITAMIN_D for s in sentences}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with FakeEUtilsServer() as pubmed:
        pubmed.state.add([record(p, t, s, dt.date(2024, 5, 2)) for p, t, s in VITAMIN_D], term="vitamin d")
        extra = {"MOESAIC_PUBMED_BASE_URL": pubmed.base_url, "MOESAIC_PUBMED_BACKOFF_S": "0.01"}
        with live_stack(tmp_path_factory.mktemp("literature-browser-stack"), extra) as running:
            yield running


@pytest.fixture(scope="module")
def synced(stack: Stack) -> str:
    """The saved query ``vit``, synced through its job, its abstracts indexed."""
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=60) as api:
        api.post(f"{APP_URL}/queries", json={"name": "vit", "term": "vitamin d", "knowledge_base": KB}).raise_for_status()
        job = api.post(f"{APP_URL}/queries/vit:sync").json()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = api.get(f"/v1/jobs/{job['job_id']}").json()
            docs = api.get(f"/v1/knowledge-bases/{KB}/documents").json()["data"] if state["state"] == "succeeded" else []
            if docs and all(d["status"] == "indexed" for d in docs):
                return "vit"
            assert state["state"] in ("queued", "running", "succeeded"), state
            time.sleep(0.25)
    raise AssertionError("the sync job or the indexing did not finish in 120 s")


def test_the_synced_query_shows_and_a_claim_check_highlights_its_rationale(browser: Any, stack: Stack, synced: str,
                                                                           tmp_path: Path) -> None:
    page, page_errors = open_page(browser, f"{stack.console_url}/literature-analysis-queries", tmp_path / "queries.png")
    try:
        assert not problems_on(page, page_errors)
        main = page.locator("[data-testid=stMain]")
        main.get_by_text("🟢 succeeded", exact=False).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert "stored 2" in main.inner_text()
    finally:
        page.close()

    page, page_errors = open_page(browser, f"{stack.console_url}/literature-analysis-claims", tmp_path / "opened.png")
    try:
        assert not problems_on(page, page_errors)
        page.get_by_label("Claim", exact=True).first.fill(CLAIM)
        page.get_by_label("Saved PubMed query (optional: instead of the knowledge base)").first.fill(synced)
        page.get_by_role("button", name="Check").first.click()
        page.wait_for_selector("[data-testid=stMain] .stMarkdownColoredBackground", timeout=PAGE_TIMEOUT_MS)
        settle(page)
        main = page.locator("[data-testid=stMain]")
        verdict = main.locator("h3", has_text="Verdict:").first.inner_text()
        assert any(label in verdict for label in ("SUPPORT", "CONTRADICT", "MIXED")), verdict
        marked = [t.strip() for t in main.locator(".stMarkdownColoredBackground").all_inner_texts()]
        assert marked and all(t in SENTENCES for t in marked), marked
        assert any("reduce" in t and "hip fracture" in t for t in marked), marked
        assert "PMID 32000001" in main.inner_text()
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "checked.png"), full_page=True)
    finally:
        page.close()


def test_contradictions_side_by_side_and_a_cited_summary_of_the_query(browser: Any, stack: Stack, synced: str,
                                                                      tmp_path: Path) -> None:
    page, page_errors = open_page(browser, f"{stack.console_url}/literature-analysis-contradictions", tmp_path / "sides.png")
    try:
        assert not problems_on(page, page_errors)
        page.get_by_label("Claim or topic", exact=True).first.fill(CLAIM)
        page.get_by_label("Saved PubMed query (optional: instead of the knowledge base)").first.fill(synced)
        page.get_by_role("button", name="Compare").first.click()
        main = page.locator("[data-testid=stMain]")
        main.locator("h3", has_text="Supporting (").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        settle(page)
        columns = main.locator("[data-testid=stColumn]")
        assert columns.count() >= 2
        left, right = columns.nth(0).inner_text(), columns.nth(1).inner_text()
        assert left.startswith("Supporting (") and right.startswith("Contradicting (")
        marked = [t.strip() for t in main.locator(".stMarkdownColoredBackground").all_inner_texts()]
        assert marked and all(t in SENTENCES for t in marked), marked
        assert "PMID 3200000" in left + right
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "sides-shown.png"), full_page=True)
    finally:
        page.close()

    page, page_errors = open_page(browser, f"{stack.console_url}/literature-analysis-summaries", tmp_path / "summary.png")
    try:
        assert not problems_on(page, page_errors)
        page.get_by_label("Question or topic", exact=True).first.fill("Does vitamin D reduce hip fracture?")
        page.get_by_text("Run as a background job").first.click()
        page.get_by_role("button", name="Summarise").first.click()
        main = page.locator("[data-testid=stMain]")
        main.locator("h3", has_text="Summary of").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        settle(page)
        text = main.inner_text()
        assert "Finding 1" in text and "[1]" in text and "PMID 3200000" in text, text
        assert "succeeded · 1 of 1 steps" in text, text
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "summary-shown.png"), full_page=True)
    finally:
        page.close()
