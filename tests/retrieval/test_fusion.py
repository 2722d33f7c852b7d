from __future__ import annotations

import numpy as np

from moesaic.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion
from moesaic.retrieval.keyword import query_terms


def test_rrf_rewards_agreement_and_respects_weights() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["d", "b", "e"]], [1.0, 1.0], k=60)
    assert [i for i, _ in fused][:3] == ["b", "a", "d"]  # second in both beats first in one
    dense_only = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], [1.0, 0.0])
    assert [i for i, _ in dense_only] == ["a", "b"]
    assert fused[0][1] == 1 / 62 + 1 / 62


def test_mmr_skips_a_near_duplicate() -> None:
    candidates = np.array([[1.0, 0.0], [0.999, 0.0447], [0.3, 0.95]], dtype=np.float32)
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    query = np.array([1.0, 0.0], dtype=np.float32)
    assert maximal_marginal_relevance(query, candidates, [3.0, 2.9, 2.0], top_k=2, lambda_=0.3) == [0, 2]
    assert maximal_marginal_relevance(query, candidates, [3.0, 2.9, 2.0], top_k=2, lambda_=1.0) == [0, 1]


def test_query_terms_drop_stopwords_and_syntax() -> None:
    terms = query_terms('What is the "return" policy AND refund* of 2024?')
    assert terms == ["return", "policy", "refund", "2024"]
