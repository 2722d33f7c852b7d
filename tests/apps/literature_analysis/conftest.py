"""The shipped claim-check models, loaded once (CPU), and a platform holding a few abstracts."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.literature_analysis.models import ClaimModels

KB = "papers"
ABSTRACTS = {
    "31000001": (
        "Vitamin D supplementation and fracture risk in older adults",
        "Fractures are a major cause of disability in older adults. We randomised 2,400 adults aged over 70 "
        "to vitamin D or placebo for three years. Vitamin D supplementation reduced the risk of hip fracture "
        "by 30% compared with placebo. Adverse events were similar in both groups.",
    ),
    "31000002": (
        "No effect of vitamin D on fractures: a pooled analysis",
        "Earlier trials of vitamin D gave conflicting results. We pooled 12 randomised trials with 31,000 "
        "participants. Vitamin D supplementation did not reduce the risk of hip fracture (relative risk 1.01). "
        "Falls were not reduced either.",
    ),
    "31000003": (
        "Coffee consumption and sleep quality in students",
        "Caffeine is widely consumed by university students. In a cohort of 500 students, higher coffee "
        "intake was associated with shorter sleep duration. Students who drank more than three cups a day "
        "reported poorer sleep quality.",
    ),
}


def article_markdown(title: str, abstract: str) -> bytes:
    return f"# {title}\n\n{abstract}\n".encode()


@pytest.fixture(scope="session")
def claim_models() -> ClaimModels:
    return ClaimModels.load()


class Env:
    def __init__(self, client: Any, platform: Any, fake: Any, tenant: str, document_ids: dict[str, str], tenant_name: str) -> None:
        self.tenant_name = tenant_name
        self.client, self.platform, self.fake, self.tenant, self.document_ids = client, platform, fake, tenant, document_ids

    def text(self, document_id: str) -> str:
        return str(self.platform.knowledge.document_text(self.tenant, KB, document_id))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, claim_models: ClaimModels) -> Iterator[Env]:
    from fastapi.testclient import TestClient

    from apps.kb_assistant.manifest import APP as KB_APP
    from apps.literature_analysis.manifest import APP
    from moesaic.access import create_api_key, ensure_tenant
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm import FakeChatModel
    from moesaic.services import Platform

    tmp = tmp_path_factory.mktemp("literature")
    fake = FakeChatModel()
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'm.db'}", datasets_dir=tmp / "none")
    platform = Platform.create(settings, model=fake, apps={APP.name: APP, KB_APP.name: KB_APP})
    platform.app_context(APP.name).services["models"] = claim_models
    name = f"tenant-{secrets.token_hex(4)}"
    key = create_api_key(platform.db, name, role="operator", apps=[APP.name])
    tenant = ensure_tenant(platform.db, name)
    platform.ensure_app_knowledge(APP, tenant)  # "literature" uses the app's fine-tuned embedder from the start
    ids, others = {}, []
    for pmid, (title, abstract) in ABSTRACTS.items():
        for kb in (KB, "literature"):  # a tenant-wide knowledge base, and the chat app's own
            info = platform.knowledge.add_document(tenant, kb, f"pubmed-{pmid}.md", article_markdown(title, abstract),
                                                   metadata={"title": title, "source": "pubmed", "pmid": pmid, "source_id": pmid})
            if kb == KB:
                ids[pmid] = info.id
            else:
                others.append(info.id)
    done = platform.knowledge.wait(list(ids.values()) + others, timeout=180)
    assert all(d.status == "indexed" for d in done), done
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield Env(client, platform, fake, tenant, ids, name)
    platform.close()
