"""Rank fusion and diversification: reciprocal rank fusion and maximal marginal relevance.

Pure functions over ids, ranks and vectors; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse best-first id lists: ``score(id) = sum_i weight_i / (k + rank_i(id))``, rank from 1."""
    assert len(rankings) == len(weights), "one weight per ranking"
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        if weight <= 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def maximal_marginal_relevance(
    query: np.ndarray, candidates: np.ndarray, relevance: Sequence[float], top_k: int, lambda_: float = 0.7
) -> list[int]:
    """Pick ``top_k`` candidate indices trading relevance against similarity to those already picked.

    ``query`` [D], ``candidates`` [N, D] unit vectors; ``relevance`` [N] (fused scores, divided by
    their maximum here so they mix with cosines).
    """
    n = len(candidates)
    if n == 0:
        return []
    rel = np.asarray(relevance, dtype=np.float32)  # [N]
    top = float(rel.max())
    rel = rel / top if top > 0 else np.ones_like(rel)
    similarity = candidates @ candidates.T  # [N, N]
    chosen: list[int] = []
    remaining = list(range(n))
    while remaining and len(chosen) < top_k:
        if chosen:
            redundancy = similarity[np.ix_(remaining, chosen)].max(axis=1)  # [R]
        else:
            redundancy = np.zeros(len(remaining), dtype=np.float32)
        scores = lambda_ * rel[remaining] - (1 - lambda_) * redundancy
        best = remaining[int(np.argmax(scores))]
        chosen.append(best)
        remaining.remove(best)
    return chosen
