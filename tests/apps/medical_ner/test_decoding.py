"""Constrained BIO decoding never produces an I- tag that does not continue its own entity."""

from __future__ import annotations

import torch

from apps.medical_ner.decoding import argmax_tags, viterbi
from apps.medical_ner.labels import TAGS


def _valid(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_viterbi_output_is_always_valid_bio() -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        log_probs = torch.log_softmax(torch.randn(12, len(TAGS), generator=generator) * 3, dim=-1)
        assert _valid(viterbi(log_probs, TAGS))


def test_viterbi_repairs_what_argmax_gets_wrong() -> None:
    probs = torch.tensor([
        [0.10, 0.30, 0.05, 0.05, 0.50],  # argmax I-treatment at the start: invalid
        [0.10, 0.05, 0.05, 0.10, 0.70],
    ])
    log_probs = probs.log()
    assert argmax_tags(log_probs, TAGS) == ["I-treatment", "I-treatment"]
    assert viterbi(log_probs, TAGS) == ["B-treatment", "I-treatment"]
    assert viterbi(torch.zeros(0, len(TAGS)), TAGS) == []
