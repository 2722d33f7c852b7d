"""A worker process killed mid-document loses nothing: the job is re-claimed after its lease
runs out and finishes, and the half-written vectors never become visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from moesaic.config import Settings
from moesaic.retrieval.ingest import IngestConfig

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from moesaic.config import Settings
    from moesaic.db import Database
    from moesaic.retrieval import KnowledgeService
    from moesaic.retrieval.ingest import IngestConfig

    class StallingEmbedder:
        # writes the first batch, then hangs inside the second until it is killed
        name, dimension, calls = "stall", 384, 0
        def embed_documents(self, texts):
            StallingEmbedder.calls += 1
            if StallingEmbedder.calls == 2:
                Path(sys.argv[3]).write_text("stalled")
                time.sleep(600)
            v = np.zeros((len(texts), 384), dtype=np.float32); v[:, 0] = 1.0
            return v
        def embed_query(self, text):
            return self.embed_documents([text])[0]

    settings = Settings(home=Path(sys.argv[1]), database_url=sys.argv[2])
    service = KnowledgeService(Database(settings.resolved_database_url), settings, embedder=StallingEmbedder(),
                               ingest_config=IngestConfig(num_workers=1, lease_seconds=1.0, poll_seconds=0.05))
    time.sleep(600)
    """
)
BIG = "\n\n".join(f"Paragraph {i} says the zebra quartz number is {i * 7}." for i in range(150)).encode()


def test_killed_worker_loses_nothing_and_finishes_after_restart(make_service, settings: Settings, tmp_path: Path) -> None:
    producer = make_service(start_worker=False)
    producer.configure_knowledge_base("acme", "kb", chunk_size=16, chunk_overlap=0)
    doc = producer.add_document("acme", "kb", "big.txt", BIG)
    small = producer.add_document("acme", "kb", "small.txt", b"The walrus sings at dawn.")
    marker = tmp_path / "stalled"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "platform")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(settings.home), settings.resolved_database_url, str(marker)], env=env
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, "worker process exited early"
            assert time.monotonic() < deadline, "worker never reached the second embedding batch"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    stuck = producer.get_document("acme", "kb", doc.id)
    assert stuck.status == "embedding" and stuck.attempts == 1
    # half-written vectors exist, but nothing of the document is visible to search
    kb_id = producer.list_knowledge_bases("acme")[0]["id"]
    assert producer.vector_store.count(kb_id, doc.id) > 0
    for mode in ("hybrid", "dense", "keyword"):
        assert producer.search("acme", "kb", "zebra quartz walrus", mode=mode) == []

    time.sleep(1.1)  # the dead worker's lease runs out
    restarted = make_service(ingest_config=IngestConfig(lease_seconds=30, poll_seconds=0.05))
    done, small_done = restarted.wait([doc.id, small.id], timeout=120)
    assert done.status == "indexed" and small_done.status == "indexed"
    assert done.attempts == 2
    assert done.num_chunks == 150
    assert restarted.vector_store.count(kb_id, doc.id) == 150
    hits = restarted.search("acme", "kb", "zebra quartz 490", mode="keyword", top_k=3)
    assert hits and hits[0].text.startswith("Paragraph 70 ")
    text = restarted.document_text("acme", "kb", doc.id)
    assert all(text[h.start_char : h.end_char] == h.text for h in hits)
