"""Claim-check latency over the SciFact corpus (5,183 abstracts) with the shipped models, on this CPU.

    .venv/bin/python bench/literature_claim_check.py [--claims 50] [--threads N] [--precision fp32,int8]

One claim check = retrieval (BM25 + the fine-tuned MiniLM, RRF) over the whole corpus, then the shipped
settings' top abstracts through the rationale selector and the label model. The corpus vectors are
computed once and cached (not timed). Several ``--precision`` values are an A/B in the same window: each
claim runs through every variant in turn, so load from other processes hits them alike. Prints one JSON
line per variant: p50/p95/max in seconds, the CPU and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import torch

    from apps.literature_analysis.claimcheck import check_abstracts
    from apps.literature_analysis.data import datasets_dir, load_claims, load_corpus, split_claims
    from apps.literature_analysis.eval_cli import cache_dir
    from apps.literature_analysis.models import ClaimModels
    from apps.literature_analysis.retrieve import DenseEncoder, LocalRetriever
    from machine import cpu_name

    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--precision", default="int8", help="comma-separated: fp32, int8, bf16 (several: interleaved A/B)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = datasets_dir() / "scifact"
    corpus = load_corpus(folder)
    claims = split_claims(load_claims(folder, "train"))[1][: args.claims]
    variants = {}
    for precision in args.precision.split(","):
        started = time.perf_counter()
        models = ClaimModels.load(precision=precision)
        dense = DenseEncoder(adapter=models.retriever)  # fp32, as the app's knowledge-base embedder
        variants[precision] = (models, LocalRetriever(list(corpus.values()), dense, models.reranker, cache_dir=cache_dir()),
                               time.perf_counter() - started)
    times: dict[str, list[float]] = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    for claim in claims:
        for name, (models, retriever, _) in variants.items():
            start = time.perf_counter()
            hits = retriever.search(claim.text, models.settings.docs_per_claim)
            check_abstracts(claim.text, [corpus[h.doc_id] for h in hits], models.selector, models.labeler, models.settings.check)
            times[name].append(time.perf_counter() - start)
    loads.append(os.getloadavg()[0])
    for name, measured in times.items():
        measured.sort()
        pick = lambda q: measured[min(len(measured) - 1, int(q * len(measured)))]  # noqa: E731
        print(json.dumps({
            "precision": name, "abstracts": len(corpus), "claims": len(measured), "p50_s": round(pick(0.5), 3),
            "p95_s": round(pick(0.95), 3), "max_s": round(measured[-1], 3), "setup_s": round(variants[name][2], 1),
            "threads": torch.get_num_threads(), "cpu": cpu_name(), "load_average": [round(x, 2) for x in loads],
        }))


if __name__ == "__main__":
    main()
