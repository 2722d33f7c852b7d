"""A live API for the console page tests: literature_analysis with the shipped claim-check models, a few
abstracts indexed in ``KB``, PubMed a fake E-utilities server on loopback; ``page`` opens a page in AppTest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import apps.literature_analysis.pages as lit_pages
from apps.literature_analysis.models import ClaimModels
from connectors.pubmed_fake import FakeEUtilsServer
from tests.apps.literature_analysis.conftest import ABSTRACTS, KB, article_markdown
from tests.apps.literature_analysis.pubmed_env import VITAMIN_D, point_at, record
from tests.ui.fake_moesaic_api import LiveServer

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


def page(url: str, key: str, path: Path = PAGE) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=60)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at
