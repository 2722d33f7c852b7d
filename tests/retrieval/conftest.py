"""Fixtures for retrieval tests: a migrated database (SQLite, and PostgreSQL when
MOESAIC_TEST_DATABASE_URL is set), real Chroma in tmp_path and the real MiniLM model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from moesaic.retrieval import KnowledgeService  # noqa: E402
from moesaic.retrieval.embeddings import SentenceTransformerEmbedder, default_embedder  # noqa: E402
from moesaic.retrieval.ingest import IngestConfig  # noqa: E402
from moesaic.retrieval.onnx_embedder import OnnxEmbedder  # noqa: E402
from tests.conftest import DATABASES, schema_database_url  # noqa: E402

AnyEmbedder = SentenceTransformerEmbedder | OnnxEmbedder  # what default_embedder() gives ($MOESAIC_EMBEDDER_BACKEND)

FAST_INGEST = IngestConfig(num_workers=2, max_attempts=3, lease_seconds=30, backoff_seconds=0.05, poll_seconds=0.05)


@pytest.fixture(scope="session")
def embedder() -> AnyEmbedder:
    embedder = default_embedder()
    assert isinstance(embedder, (SentenceTransformerEmbedder, OnnxEmbedder))
    return embedder


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from schema_database_url(request, tmp_path, "rt")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def make_service(db: Database, settings: Settings, embedder: AnyEmbedder) -> Iterator[Callable[..., KnowledgeService]]:
    services: list[KnowledgeService] = []

    def make(**kwargs: object) -> KnowledgeService:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("ingest_config", FAST_INGEST)
        service = KnowledgeService(db, settings, **kwargs)  # type: ignore[arg-type]
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


@pytest.fixture
def service(make_service: Callable[..., KnowledgeService]) -> KnowledgeService:
    return make_service()
