"""SciFact's metrics on hand-worked cases, nDCG@10, accuracy/macro-F1, and the fixed held-out split."""

from __future__ import annotations

import pytest

from apps.literature_analysis.data import Claim, Evidence, heldout_ids
from apps.literature_analysis.metrics import classification_metrics, ndcg_at_k, scifact_metrics

CLAIMS = [
    Claim(1, "a", {"d1": Evidence("SUPPORT", ((0, 1), (4,)))}, ("d1",)),
    Claim(2, "b", {"d2": Evidence("CONTRADICT", ((2,),))}, ("d2", "d3")),
    Claim(3, "c", {}, ("d4",)),
]


def test_abstract_and_sentence_level_counts() -> None:
    predictions = {
        1: {"d1": ("SUPPORT", [0, 1, 3]), "d9": ("SUPPORT", [0])},  # d1: label right, rationale (0,1) complete
        2: {"d2": ("SUPPORT", [2]), "d3": ("NOT_ENOUGH_INFO", [1])},  # d2: wrong label; NEI predictions do not count
        3: {"d4": ("CONTRADICT", [5])},
    }
    m = scifact_metrics(CLAIMS, predictions)
    # abstracts: predicted d1, d9, d2, d4 (4); gold d1, d2 (2); label right: d1 only; rationalized: d1
    assert m["abstract_label_only_precision"] == pytest.approx(1 / 4) and m["abstract_label_only_recall"] == pytest.approx(1 / 2)
    assert m["abstract_label_only_f1"] == pytest.approx(1 / 3)
    assert m["abstract_rationalized_f1"] == pytest.approx(1 / 3)
    # sentences: predicted 3 + 1 + 1 + 1 = 6; gold 3 + 1 = 4; selected right: 0, 1 (whole set) and 2 -> 3; with label: 0, 1 -> 2
    assert m["sentence_selection_precision"] == pytest.approx(3 / 6) and m["sentence_selection_recall"] == pytest.approx(3 / 4)
    assert m["sentence_selection_label_precision"] == pytest.approx(2 / 6) and m["sentence_selection_label_recall"] == pytest.approx(2 / 4)


def test_a_partial_rationale_earns_nothing_and_only_the_first_three_sentences_rationalize() -> None:
    claims = [Claim(1, "a", {"d1": Evidence("SUPPORT", ((3, 4),))}, ("d1",))]
    partial = scifact_metrics(claims, {1: {"d1": ("SUPPORT", [3])}})
    assert partial["sentence_selection_f1"] == 0.0 and partial["abstract_label_only_f1"] == 1.0
    assert partial["abstract_rationalized_f1"] == 0.0
    late = scifact_metrics(claims, {1: {"d1": ("SUPPORT", [0, 1, 3, 4])}})
    assert late["abstract_rationalized_f1"] == 0.0 and late["sentence_selection_recall"] == 1.0


def test_ndcg_and_classification_metrics() -> None:
    assert ndcg_at_k(["a", "b"], {"a"}) == 1.0
    assert ndcg_at_k(["x", "a"], {"a"}) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg_at_k(["x"] * 10 + ["a"], {"a"}) == 0.0
    m = classification_metrics(["yes", "yes", "no", "maybe"], ["yes", "no", "no", "yes"], ("yes", "no", "maybe"))
    assert m["accuracy"] == 0.5
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)


def test_the_held_out_split_is_fixed_and_a_fifth() -> None:
    ids = list(range(1000, 1809))
    held = heldout_ids(ids)
    assert len(held) == 162 and held == heldout_ids(list(reversed(ids)))
    assert held != heldout_ids(ids, seed=1)
