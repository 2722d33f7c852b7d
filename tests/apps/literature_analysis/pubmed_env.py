"""A platform running literature_analysis against a fake E-utilities server on loopback (nothing reaches
the internet): the app's PubMed settings point at the fake, its clients back off for milliseconds."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from connectors.pubmed import load_settings
from connectors.pubmed_fake import FakeEUtilsServer, FakeRecord

APP = "literature_analysis"
URL = f"/v1/apps/{APP}"
KB = "papers"


def article_xml(pmid: str, title: str, sentences: list[str], *, year: int = 2024) -> str:
    """One small <PubmedArticle> with an unlabelled abstract."""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate><Year>{year}</Year></PubDate>'
            f"</JournalIssue><Title>Journal of Tests</Title></Journal><ArticleTitle>{escape(title)}</ArticleTitle>"
            f"<Abstract><AbstractText>{escape(' '.join(sentences))}</AbstractText></Abstract></Article></MedlineCitation>"
            f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData>'
            "</PubmedArticle>\n")


def record(pmid: str, title: str, sentences: list[str], day: dt.date) -> FakeRecord:
    return FakeRecord(pmid, article_xml(pmid, title, sentences), edat=day, mdat=day)


VITAMIN_D = [
    ("32000001", "Vitamin D and hip fractures in older adults", [
        "Hip fractures are a major cause of disability in older adults.",
        "We randomised 2,400 adults aged over 70 to vitamin D or placebo for three years.",
        "Vitamin D supplementation reduced the risk of hip fracture by 30% compared with placebo."]),
    ("32000002", "Vitamin D does not prevent fractures: a pooled analysis", [
        "Earlier trials of vitamin D gave conflicting results.",
        "We pooled 12 randomised trials with 31,000 participants.",
        "Vitamin D supplementation did not reduce the risk of hip fracture."]),
]
COFFEE = [
    ("32000003", "Coffee and sleep in students", [
        "Caffeine is widely consumed by university students.",
        "Higher coffee intake was associated with shorter sleep duration in 500 students."]),
]


@dataclass
class PubMedEnv:
    client: Any
    platform: Any
    server: FakeEUtilsServer
    tenant: str
    tenant_name: str
    key: str

    def call(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return self.client.request(method, URL + path, headers=headers, **kwargs)

    def sync(self, name: str, *, timeout: float = 60.0, key: str | None = None) -> Any:
        """Ask for a sync through the route and wait for the job; returns the finished job."""
        response = self.call("POST", f"/queries/{name}:sync", key=key)
        assert response.status_code == 202, response.text
        (job,) = self.platform.jobs.wait(self.tenant, [response.json()["job_id"]], timeout=timeout)
        return job

    def query(self, name: str) -> dict[str, Any]:
        response = self.call("GET", f"/queries/{name}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def documents(self, kb: str = KB) -> list[Any]:
        infos, _ = self.platform.knowledge.list_documents(self.tenant, kb)
        return list(infos)

    def wait_indexed(self, kb: str = KB) -> list[Any]:
        done = self.platform.knowledge.wait([d.id for d in self.documents(kb)], timeout=180)
        assert all(d.status == "indexed" for d in done), done
        return done  # type: ignore[no-any-return]


def new_tenant_key(platform: Any, *, role: str = "operator", apps: list[str] | None = None) -> tuple[str, str, str]:
    """(tenant name, tenant id, key) of a fresh tenant."""
    from moesaic.access import create_api_key, ensure_tenant

    name = f"tenant-{secrets.token_hex(4)}"
    key = create_api_key(platform.db, name, role=role, apps=apps if apps is not None else [APP])
    return name, ensure_tenant(platform.db, name), key


def point_at(platform: Any, server: FakeEUtilsServer, **overrides: Any) -> None:
    """The app's PubMed settings: the fake server, fast backoff, 10 requests/s."""
    overrides.setdefault("backoff_s", 0.01)
    overrides.setdefault("requests_per_second", 10)
    overrides.setdefault("email", "dev@example.org")
    platform.app_context(APP).services["pubmed_settings"] = load_settings(base_url=server.base_url, **overrides)
