"""The console page: loaded as a ``moesaic.pages`` contribution, free of core imports, rendered in
Streamlit AppTest against the live API: a claim check shows verdict badges and the rationale sentences
highlighted inside their abstracts; contradictions and summaries render; an API error is shown."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import apps.literature_analysis.pages as lit_pages
import ui.contributions as contributions
from apps.literature_analysis.models import ClaimModels
from tests.apps.literature_analysis.conftest import ABSTRACTS, KB, article_markdown
from tests.ui.fake_moesaic_api import LiveServer
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(lit_pages.__file__).parent
PAGE = PAGES / "claims.py"


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
        with LiveServer(create_app(platform=platform), lifespan="on") as server:
            yield server.url, key
    finally:
        platform.close()


def page(url: str, key: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def test_the_contribution_loads_and_imports_no_core() -> None:
    contribution = contributions.load_contribution("literature_analysis", lit_pages)
    assert [(p.title, p.path) for p in contribution.pages] == [("Claim checker", PAGE)]
    package = "apps.literature_analysis.pages"
    assert {path.name: page_violations(path, package) for path in PAGES.rglob("*.py")} == {"__init__.py": set(), "claims.py": set()}
    probe = f"import sys, {package}; loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; assert not loaded, loaded"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_claim_check_contradictions_and_summary_render(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "🔬 Claim checker"

    at.text_area[0].set_value("Vitamin D supplementation reduces the risk of hip fracture.")
    at.text_input[0].set_value(KB)
    at.text_input[1].set_value("31000001, 31000002")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.subheader[0].value.startswith("Verdict: ")
    shown = "\n".join(m.value for m in at.markdown)
    assert ":orange-background[Vitamin D supplementation reduced the risk of hip fracture by 30% compared with placebo.]" in shown
    assert "PMID 31000002" in shown and any(b in shown for b in ("🟢 SUPPORT", "🔴 CONTRADICT"))

    at.text_area[1].set_value("Vitamin D and hip fracture")
    at.text_input[2].set_value(KB)
    at.text_input[3].set_value("31000001, 31000002")
    at.button[1].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value.split(" (")[0] for s in at.subheader[1:3]] == ["Supporting", "Contradicting"]

    at.text_area[2].set_value("Does vitamin D reduce hip fractures?")
    at.text_input[4].set_value(KB)
    at.text_input[5].set_value("31000001, 31000002")
    at.button[2].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("[1]" in m.value and "hip fracture" in m.value for m in at.markdown)


def test_an_unknown_pmid_shows_the_api_error(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key).run()
    at.text_area[0].set_value("Vitamin D prevents fractures.")
    at.text_input[0].set_value(KB)
    at.text_input[1].set_value("123")
    at.button[0].click().run()
    assert at.error and "123" in at.error[0].value
