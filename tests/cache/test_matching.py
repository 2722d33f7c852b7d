"""How questions are compared: the normalised key and the lexical guard on near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from moesaic.answers.matching import best_match, contrasting, normalise_question, question_key, to_bytes


def test_normalising_folds_case_spacing_and_punctuation_but_keeps_ids() -> None:
    assert normalise_question("  How do I CANCEL my order?! ") == "how do i cancel my order"
    assert question_key("How do I cancel my order?") == question_key("how do i cancel my order")
    assert question_key("status of #W1?") != question_key("status of #W2?")


@pytest.mark.parametrize(("first", "second"), [
    ("what are your support hours on saturday", "what are your support hours on sunday"),
    ("what is the status of order #w1234567", "what is the status of order #w7654321"),
    ("is there a fee for returns", "is there a fee for exchanges"),
    ("can i cancel a pending order", "can i cancel a delivered order"),
])
def test_a_swapped_content_word_or_number_is_not_a_near_duplicate(first: str, second: str) -> None:
    assert contrasting(first, second)


@pytest.mark.parametrize(("first", "second"), [
    ("how do i cancel my order", "how can i cancel an order"),
    ("what is your return policy", "what s the policy on returns"),
    ("how long do i have to return an item", "how many days do i have to return an item"),
])
def test_paraphrases_pass_the_guard(first: str, second: str) -> None:
    assert not contrasting(first, second)


def test_best_match_skips_guarded_candidates_and_respects_the_threshold() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    close = to_bytes(np.array([0.99, 0.141], dtype=np.float32))
    closer = to_bytes(np.array([1.0, 0.0], dtype=np.float32))
    candidates = [("sunday", "support hours on sunday", closer), ("saturday", "support hours on saturday please", close)]
    assert best_match(query, "support hours on saturday", candidates, 0.9) == ("saturday", pytest.approx(0.99, abs=1e-3))
    assert best_match(query, "support hours on saturday", candidates, 0.995) is None
    assert best_match(query, "support hours", [("old-embedder", "support hours", to_bytes(np.ones(3)))], 0.1) is None
