"""``moesaic eval literature_analysis`` (the ``claims`` evaluation): one of

- ``--scifact DIR --split NAME``: the open setting (retrieval over DIR's whole corpus, then the claim
  check on the top abstracts) with the official SciFact metrics and ``retrieval_ndcg@10`` of the claims'
  cited documents;
- ``--pubmedqa FILE``: yes/no/maybe from each question's QUESTION and CONTEXTS only: ``accuracy``, ``macro_f1``;
- ``--beir DIR --split NAME``: the app's retriever (BM25 + MiniLM, RRF, trained reranker): ``ndcg@10``.

On SciFact's ``train`` claims (and BEIR ``train`` queries) only the fixed held-out 20% is scored (the
models trained on the rest); PubMedQA questions the classifier trained on are skipped. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence


def cache_dir() -> Path:
    home = os.environ.get("MOESAIC_HOME") or str(Path.home() / ".moesaic")
    return Path(home) / "cache" / "literature_analysis"


def device() -> str:
    return os.environ.get("LITERATURE_DEVICE", "cpu")


def _retriever(docs: list, models: object, use_dense: bool = True) -> object:
    from apps.literature_analysis.retrieve import DenseEncoder, LocalRetriever

    dense = DenseEncoder(device=device(), adapter=getattr(models, "retriever")) if use_dense else None
    return LocalRetriever(docs, dense, getattr(models, "reranker"), cache_dir=cache_dir())


def scifact(folder: Path, split: str, limit: int | None) -> dict[str, object]:
    from apps.literature_analysis.data import load_claims, load_corpus, split_claims
    from apps.literature_analysis.evaluate import retrieve_claims, scifact_open
    from apps.literature_analysis.models import ClaimModels

    claims = load_claims(folder, split)
    scope = "all"
    if split == "train":
        claims, scope = split_claims(claims)[1], "heldout (20%, seeded; never trained on)"
    claims = claims[:limit] if limit else claims
    corpus = load_corpus(folder)
    models = ClaimModels.load(device=device())
    started = time.perf_counter()
    retriever = _retriever(list(corpus.values()), models)
    hits = retrieve_claims(retriever, claims)  # type: ignore[arg-type]
    metrics: dict[str, object] = dict(scifact_open(claims, corpus, hits, models.selector, models.labeler, models.settings))
    metrics.update(claims=len(claims), split=split, scope=scope, model_version=models.version, seconds=round(time.perf_counter() - started, 1))
    return metrics


def pubmedqa(path: Path, limit: int | None) -> dict[str, object]:
    from apps.literature_analysis.data import load_pubmedqa
    from apps.literature_analysis.evaluate import pubmedqa_scores
    from apps.literature_analysis.models import ARTEFACT_DIR, ClaimModels

    trained = set(json.loads((ARTEFACT_DIR / "pubmedqa_train_ids.json").read_text(encoding="utf-8")))
    questions = [q for q in load_pubmedqa(path) if q.id not in trained]
    skipped = len(load_pubmedqa(path)) - len(questions)
    questions = questions[:limit] if limit else questions
    models = ClaimModels.load(device=device())
    metrics: dict[str, object] = dict(pubmedqa_scores(questions, models.pubmedqa))
    metrics.update(questions=len(questions), skipped_training_questions=skipped, model_version=models.version)
    return metrics


def beir(folder: Path, split: str, limit: int | None) -> dict[str, object]:
    from apps.literature_analysis.data import heldout_ids, load_beir
    from apps.literature_analysis.metrics import ndcg_at_k
    from apps.literature_analysis.models import ClaimModels

    corpus, queries, qrels = load_beir(folder, split)
    scope = "all"
    if split == "train":
        held = {str(i) for i in heldout_ids([int(q) for q in queries if q.isdigit()])}
        queries, scope = {q: t for q, t in queries.items() if q in held}, "heldout (20%, seeded; never trained on)"
    items = sorted(queries.items())[:limit] if limit else sorted(queries.items())
    retriever = _retriever(list(corpus.values()), ClaimModels.load(device=device()))
    scores = [ndcg_at_k([h.doc_id for h in retriever.search(text, 10)], qrels[qid]) for qid, text in items]  # type: ignore[attr-defined]
    return {"ndcg@10": sum(scores) / len(scores) if scores else 0.0, "queries": len(items), "split": split, "scope": scope}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moesaic eval literature_analysis", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scifact", type=Path, help="SciFact folder (corpus.jsonl, claims_<split>.jsonl)")
    source.add_argument("--pubmedqa", type=Path, help="PubMedQA JSON file")
    source.add_argument("--beir", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N claims/questions/queries")
    args = parser.parse_args(argv)
    for path in (args.scifact, args.pubmedqa, args.beir):
        if path is not None and not path.exists() and not Path(str(path) + ".gz").exists():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    if args.scifact is not None:
        result = scifact(args.scifact, args.split, args.limit)
    elif args.pubmedqa is not None:
        result = pubmedqa(args.pubmedqa, args.limit)
    else:
        result = beir(args.beir, args.split, args.limit)
    print(json.dumps(result, sort_keys=True))
    return 0
