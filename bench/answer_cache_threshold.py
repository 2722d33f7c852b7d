"""Choose the answer cache's near-duplicate threshold by measuring MiniLM similarity of question pairs.

Two sets: the hand-written pairs of ``answer_cache_pairs.py`` (paraphrases vs hard different questions of the
demo apps' topics), and pairs derived from banking77 (``$MOESAIC_DATASETS_DIR/banking77/train.csv``): two
questions of the same intent count as a paraphrase (the same FAQ answer fits both), a question and its most
similar question of another intent as a hard non-paraphrase, a random question of another intent as an easy one.
Prints precision and recall per threshold; questions are normalised as the cache normalises them.

    PYTHONPATH=platform:bench HF_HUB_OFFLINE=1 python bench/answer_cache_threshold.py [--pairs 600]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from answer_cache_pairs import DIFFERENT, PARAPHRASES
from moesaic.answers.matching import contrasting, normalise_question
from moesaic.retrieval.embeddings import default_embedder

THRESHOLDS = [0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96]


def similarities(pairs: list[tuple[str, str]], guard: bool = True) -> np.ndarray:
    """Cosine of each pair, as the cache sees it: 0 where the lexical guard refuses the pair."""
    embedder = default_embedder()
    left = embedder.embed_documents([normalise_question(a) for a, _ in pairs])
    right = embedder.embed_documents([normalise_question(b) for _, b in pairs])
    scores = np.sum(left * right, axis=1)  # [N] cosines (unit vectors)
    if guard:
        scores[[contrasting(normalise_question(a), normalise_question(b)) for a, b in pairs]] = 0.0
    return scores


def banking77_pairs(path: Path, num_pairs: int, seed: int = 7) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    by_intent: dict[str, list[str]] = defaultdict(list)
    with path.open() as handle:
        for row in csv.DictReader(handle):
            by_intent[row["category"]].append(row["text"])
    intents = sorted(by_intent)
    positives = []
    for _ in range(num_pairs):
        intent = rng.choice(intents)
        a, b = rng.sample(by_intent[intent], 2)
        positives.append((a, b))
    easy = []
    for _ in range(num_pairs):
        i, j = rng.sample(intents, 2)
        easy.append((rng.choice(by_intent[i]), rng.choice(by_intent[j])))
    pool = [(text, intent) for intent in intents for text in rng.sample(by_intent[intent], min(40, len(by_intent[intent])))]
    vectors = default_embedder().embed_documents([normalise_question(t) for t, _ in pool])  # [P, D]
    hard = []
    for index in rng.sample(range(len(pool)), num_pairs):
        scores = vectors @ vectors[index]
        other = [k for k in np.argsort(-scores) if pool[k][1] != pool[index][1]][0]
        hard.append((pool[index][0], pool[int(other)][0]))
    return positives, hard, easy


def report(name: str, positive: np.ndarray, negatives: dict[str, np.ndarray]) -> None:
    negative = np.concatenate(list(negatives.values()))
    print(f"\n{name}: {len(positive)} paraphrase pairs, " + ", ".join(f"{len(v)} {k}" for k, v in negatives.items()))
    print(f"  similarity of paraphrases: median {np.median(positive):.3f}, 10th pct {np.percentile(positive, 10):.3f}")
    for key, values in negatives.items():
        print(f"  similarity of {key}: median {np.median(values):.3f}, 90th pct {np.percentile(values, 90):.3f}, max {values.max():.3f}")
    print("  threshold  precision  recall  false hits" + "".join(f"  fh:{k}" for k in negatives))
    for threshold in THRESHOLDS:
        tp = int((positive >= threshold).sum())
        fp = int((negative >= threshold).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        per_kind = "".join(f"  {int((v >= threshold).sum()):>{len(k) + 3}}" for k, v in negatives.items())
        print(f"  {threshold:9.2f}  {precision:9.3f}  {tp / len(positive):6.3f}  {fp:10d}{per_kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=600, help="banking77 pairs of each kind")
    args = parser.parse_args()
    report("hand-written, embedding only", similarities(PARAPHRASES, False), {"hard different": similarities(DIFFERENT, False)})
    report("hand-written, with the lexical guard", similarities(PARAPHRASES), {"hard different": similarities(DIFFERENT)})
    data = Path(os.environ.get("MOESAIC_DATASETS_DIR", "../shared/data")) / "banking77" / "train.csv"
    if data.exists():
        positives, hard, easy = banking77_pairs(data, args.pairs)
        report("banking77 (same intent vs other intent)", similarities(positives),
               {"hard other intent": similarities(hard), "random other intent": similarities(easy)})
    else:
        print(f"\nbanking77 not found at {data}: skipped")


if __name__ == "__main__":
    main()
