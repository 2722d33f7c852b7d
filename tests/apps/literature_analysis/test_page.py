"""The console pages: loaded as a ``moesaic.pages`` contribution, free of core imports, rendered in
Streamlit AppTest against the live API: a claim check shows verdict badges and the rationale sentences
highlighted inside their abstracts; an API error is shown; a saved query synced as a job is the claim's
scope. Search, contradictions and the summary builder: ``test_page_views.py``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

import apps.literature_analysis.pages as lit_pages
import ui.contributions as contributions
from tests.apps.literature_analysis.conftest import KB
from tests.apps.literature_analysis.page_env import live_api, page  # noqa: F401 (fixture)
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(lit_pages.__file__).parent
PAGE = PAGES / "claims.py"
QUERIES_PAGE = PAGES / "queries.py"


def test_the_contribution_loads_and_imports_no_core() -> None:
    contribution = contributions.load_contribution("literature_analysis", lit_pages)
    assert [(p.title, p.path.name) for p in contribution.pages] == [
        ("Literature search", "search.py"), ("Claim checker", "claims.py"), ("Contradictions", "contradictions.py"),
        ("Summary builder", "summaries.py"), ("PubMed queries", "queries.py")]
    package = "apps.literature_analysis.pages"
    modules = ("__init__", "claims", "common", "contradictions", "queries", "search", "summaries")
    assert {path.name: page_violations(path, package) for path in PAGES.rglob("*.py")} == {f"{m}.py": set() for m in modules}
    probe = f"import sys, {package}; loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; assert not loaded, loaded"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_claim_check_shows_badges_and_highlighted_rationale(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "🔬 Claim checker"

    at.text_area[0].set_value("Vitamin D supplementation reduces the risk of hip fracture.")
    at.text_input(key="check_kb").set_value(KB)
    at.text_input(key="check_pmids").set_value("31000001, 31000002")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.subheader[0].value.startswith("Verdict: ")
    shown = "\n".join(m.value for m in at.markdown)
    assert ":orange-background[Vitamin D supplementation reduced the risk of hip fracture by 30% compared with placebo.]" in shown
    assert "PMID 31000002" in shown and any(b in shown for b in ("🟢 SUPPORT", "🔴 CONTRADICT"))


def test_an_unknown_pmid_shows_the_api_error(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key).run()
    at.text_area[0].set_value("Vitamin D prevents fractures.")
    at.text_input(key="check_kb").set_value(KB)
    at.text_input(key="check_pmids").set_value("123")
    at.button[0].click().run()
    assert at.error and "123" in at.error[0].value


def wait_indexed(url: str, key: str, kb: str, timeout: float = 120.0) -> None:
    """Until every document of ``kb`` is indexed (a sync queues them; ingestion jobs index them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = httpx.get(f"{url}/v1/knowledge-bases/{kb}/documents", headers={"Authorization": f"Bearer {key}"}).json()["data"]
        if all(d["status"] == "indexed" for d in docs):
            return
        time.sleep(0.2)
    raise AssertionError(f"documents of {kb!r} not indexed after {timeout} s")


def test_a_saved_query_is_made_synced_as_a_job_and_used_as_the_claim_scope(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, QUERIES_PAGE).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "📚 PubMed queries" and "No saved query yet." in [i.value for i in at.info]
    for label, value in (("Name", "vit"), ("PubMed search term", "vitamin d"), ("Knowledge base", KB)):
        next(t for t in at.text_input if t.label == label).set_value(value)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "⚪ never run" in at.caption[0].value
    next(b for b in at.button if b.label == "Sync now").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value == "succeeded: 2 records stored" for s in at.success), [s.value for s in at.success]
    at.run()
    assert "🟢 succeeded" in at.caption[0].value and "stored 2" in at.caption[0].value

    wait_indexed(url, key, KB)
    claims = page(url, key).run()
    claims.text_area[0].set_value("Vitamin D supplementation reduces the risk of hip fracture.")
    claims.text_input(key="check_query").set_value("vit")
    claims.button[0].click().run()
    assert not claims.exception and not claims.error, [e.value for e in claims.error]
    assert claims.subheader[0].value.startswith("Verdict: ")
    shown = "\n".join(m.value for m in claims.markdown)
    assert "PMID 3200000" in shown and "PMID 3100000" not in shown  # the query's abstracts only
