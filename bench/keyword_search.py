"""Keyword search on SQLite (FTS5 BM25) and PostgreSQL in the same run: quality on SciFact and latency at
100k chunks.

    .venv/bin/python bench/keyword_search.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        [--chunks 100000] [--queries 200]

Quality: the SciFact abstracts (``--beir``), chunked as the knowledge service chunks them, are loaded into a
knowledge base on each database; every train query is searched in keyword mode (top 100 chunks, a
document ranked where its first chunk is) and scored with nDCG@10 / recall@100 against the train qrels.
Latency: ``--chunks`` chunks (SciFact passages repeated under new ids, as ``retrieval_latency.py`` loads
them; no vectors, since keyword search reads none), the first ``--queries`` SciFact claims through
``KnowledgeService.search(mode="keyword", top_k=10)``, each query on both databases in turn (so that both see
the same load from other jobs), p50 / p95 wall ms and this process's CPU ms (PostgreSQL's own work is not in
it). The PostgreSQL database is emptied first (use one of the bench's own).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlalchemy import insert, text  # noqa: E402

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database, new_id  # noqa: E402
from moesaic.retrieval import KnowledgeService  # noqa: E402
from moesaic.retrieval.chunking import ChunkingConfig, chunk_text  # noqa: E402
from moesaic.retrieval.evaluation import read_corpus, read_qrels, read_queries, score_run  # noqa: E402
from moesaic.retrieval.tables import ChunkRecord, DocumentRecord  # noqa: E402

TENANT = "bench"


def open_service(database_url: str | None) -> KnowledgeService:
    home = Path(tempfile.mkdtemp(prefix="moesaic-kwbench-"))
    settings = Settings(home=home, database_url=database_url)
    db = Database(settings.resolved_database_url)
    db.migrate()
    with db.session() as session:  # a server database outlives the temp dir: start empty
        for table in ("retrieval_chunks", "retrieval_document_blobs", "retrieval_documents", "retrieval_knowledge_bases"):
            session.execute(text(f"DELETE FROM {table}"))
    return KnowledgeService(db, settings, start_worker=False)


def load(service: KnowledgeService, kb: str, docs: list[tuple[str, str, list[str]]]) -> None:
    """``docs``: (document id, title, chunk texts); rows inserted the way ingestion stores them."""
    service.configure_knowledge_base(TENANT, kb)
    kb_id = next(k["id"] for k in service.list_knowledge_bases(TENANT) if k["name"] == kb)
    for start in range(0, len(docs), 500):
        documents, chunks = [], []
        for doc_id, title, pieces in docs[start:start + 500]:
            documents.append({"id": doc_id, "tenant_id": TENANT, "knowledge_base_id": kb_id, "filename": f"{doc_id}.txt",
                              "title": title, "source": "bench", "tags": [], "metadata_": {}, "content_hash": doc_id,
                              "size_bytes": 0, "version": 1, "indexed_version": 1, "status": "indexed", "attempts": 1,
                              "num_chunks": len(pieces), "text": ""})
            chunks += [{"chunk_id": f"{doc_id}-1-{seq}", "tenant_id": TENANT, "knowledge_base_id": kb_id,
                        "document_id": doc_id, "seq": seq, "title": title, "text": body, "start_char": 0,
                        "end_char": len(body)} for seq, body in enumerate(pieces)]
        with service.db.session() as session:
            session.execute(insert(DocumentRecord), documents)
            session.execute(insert(ChunkRecord), chunks)
    if service.db.dialect == "postgresql":  # what autovacuum does after a load this size
        with service.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE retrieval_chunks"))


def quality(service: KnowledgeService, beir: Path, split: str) -> dict[str, float]:
    chunking = ChunkingConfig()
    docs = [(f"d{doc.id}", doc.title, [p.text for p in chunk_text(doc.text, chunking)]) for doc in read_corpus(beir)]
    load(service, "scifact", docs)
    queries, qrels = read_queries(beir), read_qrels(beir, split)
    run = {}
    for query_id in qrels:
        ranked: list[str] = []
        for hit in service.search(TENANT, "scifact", queries[query_id], top_k=100, mode="keyword", rerank=False):
            doc = hit.document_id[1:]  # "d<corpus id>"
            if doc not in ranked:
                ranked.append(doc)
        run[query_id] = ranked
    return {k: round(v, 4) for k, v in score_run(run, qrels).items()}


def load_latency_corpus(service: KnowledgeService, beir: Path, size: int) -> None:
    chunking = ChunkingConfig(chunk_size=200, chunk_overlap=30)
    passages = [(doc.title, p.text) for doc in read_corpus(beir) for p in chunk_text(doc.text, chunking)]
    docs = []
    for start in range(0, size, 10):
        title = passages[start % len(passages)][0]
        docs.append((new_id(), title, [passages[(start + i) % len(passages)][1] for i in range(min(10, size - start))]))
    load(service, "bench", docs)


def latency(services: dict[str, KnowledgeService], queries: list[str]) -> dict[str, dict[str, float]]:
    """Each query on every database in turn (so that both see the same load from other jobs)."""
    for query in queries[:10]:  # warm caches
        for service in services.values():
            service.search(TENANT, "bench", query, top_k=10, mode="keyword")
    wall: dict[str, list[float]] = {name: [] for name in services}
    cpu: dict[str, list[float]] = {name: [] for name in services}
    for query in queries:
        for name, service in services.items():
            t0, c0 = time.perf_counter(), time.process_time()
            service.search(TENANT, "bench", query, top_k=10, mode="keyword")
            wall[name].append(1000 * (time.perf_counter() - t0))
            cpu[name].append(1000 * (time.process_time() - c0))
    out = {}
    for name in services:
        w, c = sorted(wall[name]), sorted(cpu[name])
        out[name] = {"p50_ms": round(w[len(w) // 2], 1), "p95_ms": round(w[int(len(w) * 0.95)], 1),
                     "client_cpu_p50_ms": round(c[len(c) // 2], 1), "client_cpu_p95_ms": round(c[int(len(c) * 0.95)], 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default="../shared/data/scifact/beir")
    parser.add_argument("--split", default="train")
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database of the bench's own (emptied)")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--databases", default="sqlite,postgresql", help="which of the two to run")
    args = parser.parse_args()
    beir = Path(args.beir)
    urls = {"sqlite": None, "postgresql": args.database_url}
    services = {name: open_service(urls[name]) for name in args.databases.split(",")}
    for name, service in services.items():
        if not args.skip_quality:
            print(json.dumps({"database": name, "scifact_keyword": quality(service, beir, args.split)}), flush=True)
        load_latency_corpus(service, beir, args.chunks)
    queries = list(read_queries(beir).values())[: args.queries]
    for name, row in latency(services, queries).items():
        print(json.dumps({"database": name, f"latency_{args.chunks}": row}), flush=True)
    for service in services.values():
        service.db.dispose()


if __name__ == "__main__":
    main()
