"""Claim-check latency over the SciFact corpus (5,183 abstracts) with the shipped models, on this CPU.

    .venv/bin/python bench/literature_claim_check.py [--claims 50] [--threads N]

One claim check = retrieval (BM25 + the fine-tuned MiniLM, RRF) over the whole corpus, then the shipped
settings' top abstracts through the rationale selector and the label model. The corpus vectors are
computed once and cached (not timed). Prints p50/p95/max in seconds and the machine's CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    import torch

    from apps.literature_analysis.claimcheck import check_abstracts
    from apps.literature_analysis.data import datasets_dir, load_claims, load_corpus, split_claims
    from apps.literature_analysis.eval_cli import cache_dir
    from apps.literature_analysis.models import ClaimModels
    from apps.literature_analysis.retrieve import DenseEncoder, LocalRetriever

    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = datasets_dir() / "scifact"
    corpus = load_corpus(folder)
    claims = split_claims(load_claims(folder, "train"))[1][: args.claims]
    models = ClaimModels.load()
    started = time.perf_counter()
    retriever = LocalRetriever(list(corpus.values()), DenseEncoder(adapter=models.retriever), models.reranker, cache_dir=cache_dir())
    setup = time.perf_counter() - started
    times = []
    for claim in claims:
        start = time.perf_counter()
        hits = retriever.search(claim.text, models.settings.docs_per_claim)
        check_abstracts(claim.text, [corpus[h.doc_id] for h in hits], models.selector, models.labeler, models.settings.check)
        times.append(time.perf_counter() - start)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    print(json.dumps({
        "abstracts": len(corpus), "claims": len(times), "p50_s": round(pick(0.5), 3), "p95_s": round(pick(0.95), 3),
        "max_s": round(times[-1], 3), "setup_s": round(setup, 1), "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "load_average": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
