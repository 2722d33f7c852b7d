"""The console page: loaded as a ``moesaic.pages`` contribution, free of core imports, rendered in
Streamlit AppTest against the live API: a claim check shows verdict badges and the rationale sentences
highlighted inside their abstracts; contradictions and summaries render; an API error is shown."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

import apps.literature_analysis.pages as lit_pages
import ui.contributions as contributions
from apps.literature_analysis.models import ClaimModels
from tests.apps.literature_analysis.conftest import ABSTRACTS, KB, article_markdown
from connectors.pubmed_fake import FakeEUtilsServer
from tests.apps.literature_analysis.pubmed_env import VITAMIN_D, point_at, record
from tests.ui.fake_moesaic_api import LiveServer
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(lit_pages.__file__).parent
PAGE = PAGES / "claims.py"
QUERIES_PAGE = PAGES / "queries.py"


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, claim_models: ClaimModels) -> Iterator[tuple[str, str]]:
    from apps.literature_analysis.manifest import APP
    from moesaic.access import create_api_key, ensure_tenant
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    tmp = tmp_path_factory.mktemp("literature-page")
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'm.db'}", datasets_dir=tmp / "none")
    platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP})
    platform.app_context(APP.name).services["models"] = claim_models
    key = create_api_key(platform.db, "console", name="console")
    tenant = ensure_tenant(platform.db, "console")
    infos = [platform.knowledge.add_document(tenant, KB, f"pubmed-{pmid}.md", article_markdown(title, text), metadata={"pmid": pmid})
             for pmid, (title, text) in ABSTRACTS.items()]
    assert all(d.status == "indexed" for d in platform.knowledge.wait([i.id for i in infos], timeout=120))
    try:
        with FakeEUtilsServer() as pubmed, LiveServer(create_app(platform=platform), lifespan="on") as server:
            pubmed.state.add([record(p, t, s, dt.date(2024, 5, 2)) for p, t, s in VITAMIN_D], term="vitamin d")
            point_at(platform, pubmed)
            yield server.url, key
    finally:
        platform.close()


def page(url: str, key: str, path: Path = PAGE) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=60)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def test_the_contribution_loads_and_imports_no_core() -> None:
    contribution = contributions.load_contribution("literature_analysis", lit_pages)
    assert [(p.title, p.path) for p in contribution.pages] == [("Claim checker", PAGE), ("PubMed queries", PAGES / "queries.py")]
    package = "apps.literature_analysis.pages"
    assert {path.name: page_violations(path, package) for path in PAGES.rglob("*.py")} == {"__init__.py": set(), "claims.py": set(), "queries.py": set()}
    probe = f"import sys, {package}; loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; assert not loaded, loaded"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_claim_check_contradictions_and_summary_render(live_api: tuple[str, str]) -> None:
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

    at.text_area[1].set_value("Vitamin D and hip fracture")
    at.text_input(key="sides_kb").set_value(KB)
    at.text_input(key="sides_pmids").set_value("31000001, 31000002")
    at.button[1].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value.split(" (")[0] for s in at.subheader[1:3]] == ["Supporting", "Contradicting"]

    at.text_area[2].set_value("Does vitamin D reduce hip fractures?")
    at.text_input(key="summary_kb").set_value(KB)
    at.text_input(key="summary_pmids").set_value("31000001, 31000002")
    at.button[2].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("[1]" in m.value and "hip fracture" in m.value for m in at.markdown)


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
