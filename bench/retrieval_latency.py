"""Query latency p50/p95 per search mode at growing corpus sizes (default 10k, 30k, 100k chunks).

    .venv/bin/python bench/retrieval_latency.py [--sizes 10000,100000] [--queries 200]

The index is bulk-loaded (chunk rows + keyword index through the same tables and triggers the
worker uses, vectors through ``ChromaVectorStore``) so that 100k chunks do not need 100k MiniLM
passes on a 2-core CPU: chunk texts are SciFact abstract passages, repeated with new ids past the
corpus size; vectors are SciFact-query-independent random unit vectors (HNSW cost depends on count
and dimension, and random vectors are the harder case). Query vectors are real MiniLM embeddings of
SciFact claims, computed before timing: the figures exclude query embedding, as the target does.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database, new_id  # noqa: E402
from moesaic.retrieval import KnowledgeService  # noqa: E402
from moesaic.retrieval.chunking import ChunkingConfig, chunk_text  # noqa: E402
from moesaic.retrieval.embeddings import default_embedder  # noqa: E402
from moesaic.retrieval.evaluation import read_corpus, read_queries  # noqa: E402
from moesaic.retrieval.tables import ChunkRecord, DocumentRecord  # noqa: E402

CHUNKS_PER_DOC = 10


def passages(beir: Path) -> list[tuple[str, str]]:
    out = []
    for doc in read_corpus(beir):
        for piece in chunk_text(doc.text, ChunkingConfig(chunk_size=200, chunk_overlap=30)):
            out.append((doc.title, piece.text))
    return out


def bulk_load(service: KnowledgeService, kb_id: str, texts: list[tuple[str, str]], n: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    db = service.db
    for start in range(0, n, 4000):
        count = min(4000, n - start)
        docs, chunks, ids, metas = [], [], [], []
        for d in range(0, count, CHUNKS_PER_DOC):
            doc_id = new_id()
            docs.append(
                {"id": doc_id, "tenant_id": "bench", "knowledge_base_id": kb_id, "filename": f"{doc_id}.txt",
                 "title": "", "source": "bench", "tags": [], "metadata": {}, "content_hash": doc_id,
                 "size_bytes": 0, "version": 1, "indexed_version": 1, "status": "indexed", "attempts": 1,
                 "num_chunks": CHUNKS_PER_DOC, "text": ""}
            )
            for seq in range(min(CHUNKS_PER_DOC, count - d)):
                title, body = texts[(start + d + seq) % len(texts)]
                chunk_id = f"{doc_id}-1-{seq}"
                chunks.append(
                    {"chunk_id": chunk_id, "tenant_id": "bench", "knowledge_base_id": kb_id, "document_id": doc_id,
                     "seq": seq, "title": title, "text": body, "start_char": 0, "end_char": len(body)}
                )
                ids.append(chunk_id)
                metas.append({"document_id": doc_id, "version": 1, "tenant_id": "bench"})
        with db.session() as session:
            session.execute(insert(DocumentRecord), [{**d, "metadata_": d.pop("metadata")} for d in docs])
            session.execute(insert(ChunkRecord), chunks)
        vectors = rng.standard_normal((len(ids), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        service.vector_store.upsert(kb_id, ids, vectors, metas)
    return time.perf_counter() - started


def measure(service: KnowledgeService, queries: list[str], vectors: np.ndarray, mode: str) -> dict[str, float]:
    for q, v in zip(queries[:10], vectors[:10]):  # warm caches
        service.search("bench", "bench", q, top_k=10, mode=mode, query_vector=v)
    times, cpu = [], []
    for q, v in zip(queries, vectors):
        t0, c0 = time.perf_counter(), time.process_time()
        service.search("bench", "bench", q, top_k=10, mode=mode, query_vector=v)
        times.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    times.sort()
    cpu.sort()
    # wall time is what a caller waits; CPU time is what the query costs when cores are shared
    return {
        "p50_ms": round(times[len(times) // 2], 2),
        "p95_ms": round(times[int(len(times) * 0.95)], 2),
        "cpu_p50_ms": round(cpu[len(cpu) // 2], 2),
        "cpu_p95_ms": round(cpu[int(len(cpu) * 0.95)], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default="../shared/data/scifact/beir")
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    beir = Path(args.beir)
    texts = passages(beir)
    queries = list(read_queries(beir).values())[: args.queries]
    query_vectors = default_embedder().embed_documents(queries)  # [Q, 384], not timed
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        home = Path(tempfile.mkdtemp(prefix="moesaic-bench-"))
        settings = Settings(home=home, database_url=args.database_url)
        db = Database(settings.resolved_database_url)
        db.migrate()
        with db.session() as session:  # a server database outlives the temp dir: start empty
            for table in ("retrieval_chunks", "retrieval_document_blobs", "retrieval_documents", "retrieval_knowledge_bases"):
                session.execute(text(f"DELETE FROM {table}"))
        service = KnowledgeService(db, settings, start_worker=False, embedder=default_embedder())
        service.configure_knowledge_base("bench", "bench")
        kb_id = service.list_knowledge_bases("bench")[0]["id"]
        load_s = bulk_load(service, kb_id, texts, size)
        if db.dialect == "postgresql":  # what autovacuum would do after a load this size
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE retrieval_chunks"))
        row: dict[str, object] = {"chunks": size, "bulk_load_s": round(load_s, 1), "dialect": db.dialect}
        for mode in ("hybrid", "dense", "keyword"):
            row[mode] = measure(service, queries, query_vectors, mode)
        rows.append(row)
        print(json.dumps(row), flush=True)
        db.dispose()
    print("wall p50/p95 ms (cpu p50/p95 ms)")
    print(f"{'chunks':>8} " + " ".join(f"{m:>30}" for m in ("hybrid", "dense", "keyword")))
    for row in rows:
        cells = [
            f"{r['p50_ms']:.1f}/{r['p95_ms']:.1f} ({r['cpu_p50_ms']:.1f}/{r['cpu_p95_ms']:.1f})"
            for r in (row[m] for m in ("hybrid", "dense", "keyword"))  # type: ignore[index]
        ]
        print(f"{row['chunks']:>8} " + " ".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
