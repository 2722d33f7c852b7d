"""Ingestion throughput through the real pipeline (worker threads, MiniLM, Chroma, FTS5) as the
knowledge base grows: documents are added in equal rounds and each round is timed on its own.

    .venv/bin/python bench/retrieval_ingest.py [--rounds 4 --per-round 250]

Reports chunks/s and documents/s per round, wall and process CPU seconds (the 2-core machine is
shared, so CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from itertools import islice
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from moesaic.retrieval import KnowledgeService  # noqa: E402
from moesaic.retrieval.embeddings import default_embedder  # noqa: E402
from moesaic.retrieval.evaluation import read_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default="../shared/data/scifact/beir")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=250)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="moesaic-ingest-"))
    settings = Settings(home=home)
    db = Database(settings.resolved_database_url)
    db.migrate()
    embedder = default_embedder()
    embedder.embed_documents(["warm up"])
    service = KnowledgeService(db, settings, embedder=embedder)
    corpus = read_corpus(Path(args.beir))
    total_chunks = 0
    for round_no in range(1, args.rounds + 1):
        docs = list(islice(corpus, args.per_round))
        t0, c0 = time.perf_counter(), time.process_time()
        infos = [
            service.add_document("bench", "ingest", f"{d.id}.txt", d.text.encode(), metadata={"title": d.title})
            for d in docs
        ]
        done = service.wait([i.id for i in infos], timeout=3600)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        chunks = sum(i.num_chunks for i in done)
        total_chunks += chunks
        print(json.dumps({
            "round": round_no, "documents": len(done), "chunks": chunks, "kb_chunks_after": total_chunks,
            "failed": sum(i.status == "failed" for i in done), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "chunks_per_s": round(chunks / wall, 1), "docs_per_s": round(len(done) / wall, 2),
            "chunks_per_cpu_s": round(chunks / cpu, 1),
        }), flush=True)
    service.stop()


if __name__ == "__main__":
    main()
