"""Ingestion throughput through the real pipeline (worker threads, MiniLM, Chroma, FTS5) as the
knowledge base grows: documents are added in equal rounds and each round is timed on its own.

    .venv/bin/python bench/retrieval_ingest.py [--rounds 4 --per-round 250]

Reports chunks/s and documents/s per round, wall and process CPU seconds (the 2-core machine is
shared, so CPU time is the steadier figure), and, right after each round, the model alone on up to
``--model-sample`` of that round's chunks (the same texts the pipeline embedded, one call):
``pipeline_vs_model`` is the pipeline's chunks/s over the model's, the share of the ceiling reached,
which moves less with the machine's load than either figure. Each line carries the 1-minute load
average, the CPU and the embedder's backend and precision (``$MOESAIC_EMBEDDER_BACKEND``: auto, torch, onnx;
``$MOESAIC_EMBEDDER_PRECISION``: auto, fp32, bf16 for torch, fp32, int8 for onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import sys
from itertools import islice
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from moesaic.retrieval import KnowledgeService  # noqa: E402
from moesaic.retrieval.embeddings import default_embedder  # noqa: E402
from moesaic.retrieval.evaluation import read_corpus  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default="../shared/data/scifact/beir")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=250)
    parser.add_argument("--model-sample", type=int, default=64, help="chunks embedded alone after each round (0: none)")
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
        load = os.getloadavg()[0]
        model_rate = model_chunks_per_s(service, [i.id for i in done], args.model_sample)
        print(json.dumps({
            "round": round_no, "documents": len(done), "chunks": chunks, "kb_chunks_after": total_chunks,
            "failed": sum(i.status == "failed" for i in done), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "chunks_per_s": round(chunks / wall, 1), "docs_per_s": round(len(done) / wall, 2),
            "chunks_per_cpu_s": round(chunks / cpu, 1),
            "model_chunks_per_s": round(model_rate, 1) if model_rate else None,
            "pipeline_vs_model": round(chunks / wall / model_rate, 2) if model_rate else None,
            "load_1min": round(load, 2), "backend": getattr(embedder, "backend", "torch"),
            "precision": getattr(embedder, "precision", "fp32"), "cpu": cpu_name(),
        }), flush=True)
    service.stop()


def model_chunks_per_s(service: KnowledgeService, document_ids: list[str], sample: int) -> float | None:
    """The embedder alone on up to ``sample`` of these documents' chunks, as the pipeline embeds them."""
    if sample <= 0:
        return None
    from sqlalchemy import select

    from moesaic.retrieval.tables import ChunkRecord

    with service.db.session() as session:
        texts = [f"{title}\n{text}" for title, text in session.execute(
            select(ChunkRecord.title, ChunkRecord.text).where(ChunkRecord.document_id.in_(document_ids)).limit(sample)
        )]
    if not texts:
        return None
    embedder = service.embedder()
    t0 = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - t0)


if __name__ == "__main__":
    main()
