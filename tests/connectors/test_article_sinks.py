"""The knowledge-base sink through the real KnowledgeService: a re-sync updates, never duplicates."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from connectors.article_sinks import KnowledgeBaseSink  # noqa: E402
from connectors.pubmed_xml import parse_articles  # noqa: E402
from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from moesaic.retrieval import KnowledgeService, default_embedder  # noqa: E402
from moesaic.retrieval.ingest import IngestConfig  # noqa: E402
from tests.connectors.conftest import FIXTURES  # noqa: E402


@pytest.fixture
def knowledge(tmp_path: Path) -> Iterator[KnowledgeService]:
    settings = Settings(home=tmp_path / "home")
    db = Database(settings.resolved_database_url)
    db.migrate()
    service = KnowledgeService(db, settings, embedder=default_embedder(),
                               ingest_config=IngestConfig(backoff_seconds=0.05, poll_seconds=0.05))
    yield service
    service.stop()
    db.dispose()


def test_synced_articles_become_searchable_documents_and_a_resync_replaces_them(knowledge: KnowledgeService) -> None:
    data = (FIXTURES / "articles.xml").read_bytes()
    sink = KnowledgeBaseSink(knowledge, "t1", "pubmed")
    sink(parse_articles(data))
    knowledge.wait(list(sink.document_ids.values()), timeout=60)
    docs, counts = knowledge.list_documents("t1", "pubmed")
    assert counts["indexed"] == 4 and len(docs) == 4
    by_name = {d.filename: d for d in docs}
    vitamin = by_name["pubmed-11111111.md"]
    assert vitamin.title.startswith("Vitamin D supplements") and vitamin.metadata["doi"] == "10.1000/jim.2021.001"
    assert by_name["pubmed-22222222.md"].metadata["retracted"] is True

    sink(parse_articles(data))  # the same articles again: no-op
    revised = data.replace(b"Vitamin D did not reduce winter colds.", b"Vitamin D reduced winter colds a little.")
    sink(parse_articles(revised))  # one changed: a new version of the same document
    knowledge.wait(list(sink.document_ids.values()), timeout=60)
    docs, _ = knowledge.list_documents("t1", "pubmed")
    assert len(docs) == 4
    versions = {d.filename: d.version for d in docs}
    assert versions["pubmed-11111111.md"] == 2 and versions["pubmed-22222222.md"] == 1
    assert "reduced winter colds a little" in knowledge.document_text("t1", "pubmed", vitamin.id)
