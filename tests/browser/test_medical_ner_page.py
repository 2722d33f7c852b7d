"""medical_ner's console page in a real Chromium against the live stack (``moesaic serve`` with the trained
model and its embedded job queue, ``moesaic ui``): a pasted note comes back highlighted, a file of notes
runs as a job to 100% and its JSONL downloads, and the model card shows the devel scores.

Marker ``browser`` (``make test-browser``); Debian's Chromium through Playwright, as the smoke test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.servers import Stack, live_stack
from tests.browser.test_console_smoke import CHROMIUM, FLAGS, PAGE_TIMEOUT_MS, open_page, problems_on

pytestmark = pytest.mark.browser

NOTE = "Denies chest pain.\nStarted on metformin for type 2 diabetes."
NUM_NOTES = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("ner-browser-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


def settle(page: Any) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=PAGE_TIMEOUT_MS)


def test_a_note_is_highlighted_a_file_runs_as_a_job_and_the_card_shows_scores(browser: Any, stack: Stack,
                                                                              tmp_path: Path) -> None:
    page, page_errors = open_page(browser, f"{stack.console_url}/medical-ner-entities", tmp_path / "opened.png")
    try:
        assert not problems_on(page, page_errors)
        main = page.locator("[data-testid=stMain]")
        assert "does not find test entities" in main.inner_text()  # the mode switch says so

        page.get_by_label("Clinical note").fill(NOTE)
        page.keyboard.press("Control+Enter")  # commit the text area's value
        settle(page)
        page.get_by_role("button", name="Extract entities").click()
        page.wait_for_selector("mark.entity", timeout=PAGE_TIMEOUT_MS)
        settle(page)
        found = page.locator("mark.entity").evaluate_all(
            "marks => marks.map(m => [m.dataset.label, m.dataset.assertion, m.firstChild.textContent])")
        assert ["problem", "absent", "chest pain"] in found and ["treatment", "present", "metformin"] in found, found
        assert page.locator(".legend [data-label=test]").count() == 1
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "note.png"), full_page=True)

        page.get_by_role("tab", name="File of notes").click()
        notes = tmp_path / "notes.jsonl"
        notes.write_text("".join(json.dumps({"id": f"n{i}", "text": f"Note {i}: no asthma, on aspirin."}) + "\n"
                                 for i in range(NUM_NOTES)), encoding="utf-8")
        page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(notes))
        start = page.get_by_role("button", name="Start extraction job")
        start.wait_for(timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function("() => [...document.querySelectorAll('button')].some("
                               "b => b.innerText.includes('Start extraction job') && !b.disabled)", timeout=PAGE_TIMEOUT_MS)
        start.click()
        main.get_by_text(f"succeeded · {NUM_NOTES} of {NUM_NOTES} notes").wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_role("button", name="Download JSONL").wait_for(timeout=PAGE_TIMEOUT_MS)
        settle(page)
        with page.expect_download(timeout=PAGE_TIMEOUT_MS) as download:
            page.get_by_role("button", name="Download JSONL").click()
        lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
        assert [json.loads(line)["id"] for line in lines] == [f"n{i}" for i in range(NUM_NOTES)]
        assert not problems_on(page, page_errors)
        page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

        page.get_by_role("tab", name="Model card").click()
        metrics = page.locator("[data-testid=stMetric]")
        metrics.first.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert "NCBI-disease" in " ".join(metrics.all_inner_texts())
        assert not problems_on(page, page_errors)
    finally:
        page.close()
