"""The sync as a job on the platform's real (embedded) queue, and its schedule slots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.pubmed import PubMedClient
from connectors.pubmed_fake import FakeEUtilsServer, generate_records
from connectors.pubmed_job import SyncJobPayload, enqueue_due_syncs, make_sync_job
from connectors.pubmed_sync import JsonFileCursorStore, SavedQuery
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.jobs import JobConfig, JobQueue

APP = "literature_analysis"
NOON = dt.datetime(2024, 2, 1, 12, 30, tzinfo=dt.timezone.utc)


class RecordingWriter:
    """Keeps what ``add_document`` receives, by file name (a knowledge base replaces by name too)."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def add_document(self, tenant_id: str, kb: str, filename: str, data: bytes, *,
                     metadata: dict[str, Any] | None = None) -> None:
        self.documents[f"{tenant_id}/{kb}/{filename}"] = (data, metadata or {})


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[JobQueue]:
    settings = Settings(home=tmp_path / "home")
    db = Database(settings.resolved_database_url)
    db.migrate()
    built = JobQueue.from_settings(db, settings, JobConfig(lease_seconds=5, reap_seconds=1, poll_seconds=0.05,
                                                           backoff_seconds=0.1))
    yield built
    built.stop()
    db.dispose()


def test_sync_job_fills_the_knowledge_base_once_per_slot(
        queue: JobQueue, fake_server: FakeEUtilsServer, make_client: Callable[..., PubMedClient], tmp_path: Path) -> None:
    fake_server.state.add(generate_records(120, per_day=40), term="common cold")
    writer, cursors = RecordingWriter(), JsonFileCursorStore(tmp_path / "cursors.json")
    queue.register(f"{APP}.pubmed_sync", make_sync_job(lambda job: cursors, client_factory=lambda: make_client(batch_size=50),
                                                        writer_for=lambda job: writer))
    queue.start(1)
    payload = SyncJobPayload(query="colds", term="common cold", knowledge_base="papers", until=dt.date(2024, 1, 31))
    (job,) = enqueue_due_syncs(queue, "t1", APP, [payload], every=dt.timedelta(hours=6), now=NOON)
    (same,) = enqueue_due_syncs(queue, "t1", APP, [payload], every=dt.timedelta(hours=6), now=NOON + dt.timedelta(hours=1))
    assert same.id == job.id  # the same slot: no second job
    (done,) = queue.wait("t1", [job.id], timeout=30)
    assert done.state == "succeeded", done.error
    assert done.result["num_written"] == 120 and done.result["cursor"] == "2024-01-31"
    assert (done.progress_done, done.progress_total) == (120, 120)
    assert len(writer.documents) == 120 and "t1/papers/pubmed-30000000.md" in writer.documents
    assert cursors.load(SavedQuery("colds", "common cold")) == dt.date(2024, 1, 31)
    (later,) = enqueue_due_syncs(queue, "t1", APP, [payload], every=dt.timedelta(hours=6), now=NOON + dt.timedelta(hours=6))
    assert later.id != job.id  # the next slot asks for a new sync


def test_bad_payloads_and_bad_queries_fail_without_retrying(
        queue: JobQueue, fake_server: FakeEUtilsServer, make_client: Callable[..., PubMedClient], tmp_path: Path) -> None:
    writer = RecordingWriter()
    queue.register(f"{APP}.pubmed_sync", make_sync_job(lambda job: JsonFileCursorStore(tmp_path / "c.json"),
                                                        client_factory=lambda: make_client(), writer_for=lambda job: writer))
    queue.start(1)
    missing = queue.enqueue("t1", APP, "pubmed_sync", {"query": "colds", "knowledge_base": "papers"})
    rejected = queue.enqueue("t1", APP, "pubmed_sync", {"query": "q", "term": "x[badfield]", "knowledge_base": "papers"})
    first, second = queue.wait("t1", [missing.id, rejected.id], timeout=30)
    assert first.state == "failed" and "term: Field required" in (first.error or "") and first.attempts == 1
    assert second.state == "failed" and "rejected the query" in (second.error or "") and second.attempts == 1
    assert writer.documents == {}
