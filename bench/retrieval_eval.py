"""SciFact (or any BEIR folder) retrieval quality per mode, with the index kept in a work dir.

    .venv/bin/python bench/retrieval_eval.py --beir ../shared/data/scifact/beir --split train \
        --work-dir /tmp/moesaic-scifact [--queries all|dev|heldout] [--config '{"rrf_k": 60}']

Same numbers as ``moesaic eval retrieval``; the work dir makes re-runs skip ingestion (re-adding
an unchanged corpus is a no-op), which is how weights were tuned on the dev half only.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from moesaic.retrieval.commands import evaluate_beir, print_eval  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", default="../shared/data/scifact/beir")
    parser.add_argument("--split", default="train")
    parser.add_argument("--modes", default="hybrid,dense,keyword")
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--queries", default="all", choices=["all", "dev", "heldout"])
    parser.add_argument("--config", default="{}", help="knowledge-base settings as JSON")
    parser.add_argument("--max-docs", type=int, default=None)
    args = parser.parse_args()
    results = evaluate_beir(
        args.beir,
        args.split,
        args.modes.split(","),
        work_dir=args.work_dir,
        kb_config=json.loads(args.config),
        queries=args.queries,
        max_docs=args.max_docs,
    )
    print_eval(results)


if __name__ == "__main__":
    main()
