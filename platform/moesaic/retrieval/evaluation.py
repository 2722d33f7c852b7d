"""Retrieval metrics and the BEIR folder format (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

Pure functions: reading files and scoring ranked lists. Indexing and searching a corpus is in
``commands.evaluate_beir``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from moesaic.errors import UserError


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str


def read_corpus(beir_dir: Path) -> Iterator[BeirDocument]:
    with open(beir_dir / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                yield BeirDocument(str(row["_id"]), row.get("title") or "", row.get("text") or "")


def read_queries(beir_dir: Path) -> dict[str, str]:
    with open(beir_dir / "queries.jsonl", encoding="utf-8") as f:
        rows = (json.loads(line) for line in f if line.strip())
        return {str(row["_id"]): row["text"] for row in rows}


def read_qrels(beir_dir: Path, split: str) -> dict[str, dict[str, int]]:
    path = beir_dir / "qrels" / f"{split}.tsv"
    if not path.exists():
        found = sorted(p.stem for p in (beir_dir / "qrels").glob("*.tsv"))
        raise UserError(f"no qrels split {split!r} in {beir_dir}; found: {', '.join(found) or 'none'}", field="split")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def query_half(query_id: str) -> str:
    """A fixed split of queries into 'dev' (for tuning) and 'heldout' (for reporting)."""
    return "dev" if hashlib.sha1(query_id.encode()).digest()[0] % 2 == 0 else "heldout"


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant
    )
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    positives = {doc for doc, g in relevant.items() if g > 0}
    return len(positives.intersection(ranked[:k])) / len(positives) if positives else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def score_run(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, recall@10, recall@100 and MRR@10 over the queries in ``run``."""
    n = len(run)
    if n == 0:
        return {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0, "queries": 0}
    return {
        "ndcg@10": sum(ndcg_at_k(run[q], qrels[q]) for q in run) / n,
        "recall@10": sum(recall_at_k(run[q], qrels[q], 10) for q in run) / n,
        "recall@100": sum(recall_at_k(run[q], qrels[q], 100) for q in run) / n,
        "mrr@10": sum(mrr_at_k(run[q], qrels[q]) for q in run) / n,
        "queries": n,
    }
