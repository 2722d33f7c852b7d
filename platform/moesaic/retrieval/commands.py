"""Plain functions behind ``moesaic ingest`` and ``moesaic eval retrieval`` (the CLI only parses
arguments and calls these). Progress bars go to stderr; results are returned and printed."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from moesaic.config import Settings
from moesaic.db import Database
from moesaic.retrieval.evaluation import query_half, read_corpus, read_qrels, read_queries, score_run
from moesaic.retrieval.models import SEARCH_MODES, DocumentInfo
from moesaic.retrieval.readers import is_supported
from moesaic.retrieval.service import KnowledgeService

EVAL_TENANT = "eval"
EVAL_KB = "beir"
# BEIR documents are passages (SciFact: abstracts); 300-token chunks keep a typical one whole for
# BM25 while long ones still split. Chosen before any evaluation run, not tuned on the qrels.
BEIR_KB_CONFIG: dict[str, Any] = {"chunk_size": 300}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, plus supported files under folders named (recursively), sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and is_supported(p.name))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


def wait_with_progress(
    service: KnowledgeService, document_ids: list[str], *, progress: bool = True, timeout: float = 3600.0,
    description: str = "indexing",
) -> list[DocumentInfo]:
    """Poll until every document is indexed or failed, drawing a tqdm bar of finished documents."""
    from tqdm import tqdm

    bar = tqdm(total=len(document_ids), desc=description, unit="doc", disable=not progress, file=sys.stderr)
    deadline = time.monotonic() + timeout
    pending = list(document_ids)
    finished: dict[str, DocumentInfo] = {}
    try:
        while pending and time.monotonic() < deadline:
            for start in range(0, len(pending), 500):
                for info in service.wait(pending[start : start + 500], timeout=0):
                    if info.is_done:
                        finished[info.id] = info
            done_now = [i for i in pending if i in finished]
            if done_now:
                bar.update(len(done_now))
                pending = [i for i in pending if i not in finished]
                failed = sum(1 for info in finished.values() if info.status == "failed")
                bar.set_postfix(failed=failed)
            if pending:
                time.sleep(0.25)
    finally:
        bar.close()
    rest = service.wait(pending, timeout=0) if pending else []
    by_id = {**finished, **{info.id: info for info in rest}}
    return [by_id[i] for i in document_ids]


def ingest_paths(
    service: KnowledgeService,
    tenant_id: str,
    kb: str,
    paths: Sequence[str | Path],
    progress: bool = True,
    *,
    metadata: dict[str, Any] | None = None,
    timeout: float = 3600.0,
) -> list[DocumentInfo]:
    """Upload files (folders are walked), wait for indexing with a progress bar, print counts."""
    files = expand_paths(paths)
    infos = [
        service.add_document(tenant_id, kb, file.name, file.read_bytes(), metadata={"source": str(file), **(metadata or {})})
        for file in files
    ]
    done = wait_with_progress(service, [info.id for info in infos], progress=progress, timeout=timeout)
    counts: dict[str, int] = {}
    for info in done:
        counts[info.status] = counts.get(info.status, 0) + 1
    print(f"{kb}: {len(done)} files; " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    for info in done:
        if info.status == "failed":
            print(f"  failed: {info.filename}: {info.error}")
    return done


def evaluate_beir(
    beir_dir: str | Path,
    split: str,
    modes: Sequence[str] = SEARCH_MODES,
    *,
    work_dir: str | Path | None = None,
    kb_config: dict[str, Any] | None = None,
    queries: str = "all",
    max_docs: int | None = None,
    progress: bool = True,
    service: KnowledgeService | None = None,
) -> list[dict[str, Any]]:
    """Index a BEIR corpus in a temporary knowledge base and score each mode on ``split``.

    ``work_dir`` keeps the index between runs (re-adding an unchanged corpus is a no-op);
    ``queries``: all, dev or heldout (a fixed hash split of the queries, tune on dev only).
    Returns one dict per mode with nDCG@10, recall@10, recall@100, MRR@10 and timings.
    """
    from tqdm import tqdm

    for mode in modes:
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(SEARCH_MODES)}")
    if queries not in ("all", "dev", "heldout"):
        raise ValueError(f"queries must be all, dev or heldout, not {queries!r}")
    beir = Path(beir_dir)
    qrels = read_qrels(beir, split)
    all_queries = read_queries(beir)
    selected = {
        q: all_queries[q] for q in sorted(qrels) if q in all_queries and (queries == "all" or query_half(q) == queries)
    }
    owned = service is None
    if service is None:
        home = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="moesaic-eval-"))
        settings = Settings(home=home, database_url=None, chroma_url=None)
        db = Database(settings.resolved_database_url)
        db.migrate()
        service = KnowledgeService(db, settings, start_worker=True)
    try:
        service.configure_knowledge_base(EVAL_TENANT, EVAL_KB, **{**BEIR_KB_CONFIG, **(kb_config or {})})
        started = time.perf_counter()
        infos = []
        for i, doc in enumerate(read_corpus(beir)):
            if max_docs is not None and i >= max_docs:
                break
            infos.append(
                service.add_document(
                    EVAL_TENANT, EVAL_KB, f"{doc.id}.txt", doc.text.encode("utf-8"), metadata={"title": doc.title}
                )
            )
        done = wait_with_progress(service, [info.id for info in infos], progress=progress)
        ingest_s = time.perf_counter() - started
        num_chunks = sum(info.num_chunks for info in done)
        failed = [info for info in done if info.status != "indexed"]
        doc_key = {info.id: info.filename.removesuffix(".txt") for info in done}
        query_ids = list(selected)
        vectors = service.embedder().embed_documents([selected[q] for q in query_ids])  # [Q, D]
        results = []
        for mode in modes:
            run: dict[str, list[str]] = {}
            latencies = []
            for qid, vector in tqdm(
                list(zip(query_ids, vectors)), desc=f"queries ({mode})", disable=not progress, file=sys.stderr
            ):
                t0 = time.perf_counter()
                hits = service.search(EVAL_TENANT, EVAL_KB, selected[qid], top_k=300, mode=mode, query_vector=vector)
                latencies.append(time.perf_counter() - t0)
                ranked: list[str] = []
                for hit in hits:  # a document ranks where its best chunk ranks
                    key = doc_key.get(hit.document_id)
                    if key is not None and key not in ranked:
                        ranked.append(key)
                run[qid] = ranked[:100]
            latencies.sort()
            results.append(
                {
                    "mode": mode,
                    **score_run(run, qrels),
                    "split": split,
                    "query_set": queries,
                    "documents": len(done),
                    "failed": len(failed),
                    "chunks": num_chunks,
                    "ingest_s": round(ingest_s, 1),
                    "query_p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else 0.0,
                    "query_p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 2) if latencies else 0.0,
                }
            )
        return results
    finally:
        if owned:
            service.stop()
            service.db.dispose()


def print_eval(results: list[dict[str, Any]]) -> None:
    """A table per mode, then the first mode's summary as the last line (JSON)."""
    print(f"{'mode':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'queries':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for r in results:
        print(
            f"{r['mode']:<8} {r['ndcg@10']:>8.4f} {r['recall@10']:>7.4f} {r['recall@100']:>7.4f} "
            f"{r['mrr@10']:>7.4f} {r['queries']:>8} {r['query_p50_ms']:>7.1f} {r['query_p95_ms']:>7.1f}"
        )
    if results:
        first = results[0]
        summary = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in first.items()}
        summary["by_mode"] = {
            r["mode"]: {m: round(r[m], 4) for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10")} for r in results
        }
        print(json.dumps(summary))
