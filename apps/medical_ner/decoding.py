"""From per-word tag scores to BIO tags: constrained Viterbi (the default) or plain argmax.

Constrained decoding allows only valid BIO sequences (``I-x`` only after ``B-x`` or ``I-x``) and picks
the most probable valid one under the per-word probabilities (no learned transitions: this is not a
CRF). ``argmax`` takes each word's best tag; an ``I-x`` that starts a chunk is read as ``B-x``, as
conlleval does. numpy on the CPU; nothing here knows about text.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

NEG_INF = -1e9


def transition_mask(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed[prev, next], allowed_at_start[next]) as 0 / NEG_INF additive scores."""
    return _transition_mask(tuple(tags))


@lru_cache(maxsize=8)
def _transition_mask(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    size = len(tags)
    allowed = np.zeros((size, size))
    start = np.zeros(size)
    for nxt, tag in enumerate(tags):
        if tag.startswith("I-"):
            label = tag[2:]
            start[nxt] = NEG_INF
            for prev, prev_tag in enumerate(tags):
                if prev_tag not in (f"B-{label}", f"I-{label}"):
                    allowed[prev, nxt] = NEG_INF
    return allowed, start


def viterbi(log_probs: torch.Tensor, tags: tuple[str, ...]) -> list[str]:
    """The best valid BIO sequence for ``log_probs`` [W, K] (K == len(tags))."""
    assert log_probs.dim() == 2 and log_probs.shape[1] == len(tags), f"log_probs {tuple(log_probs.shape)} vs {len(tags)} tags"
    if log_probs.shape[0] == 0:
        return []
    emissions = log_probs.double().numpy()  # [W, K]
    allowed, start = transition_mask(tags)
    scores = emissions[0] + start  # [K]
    back = np.zeros(emissions.shape, dtype=np.int64)  # [W, K]
    for word in range(1, emissions.shape[0]):
        candidates = scores[:, None] + allowed  # [K prev, K next]
        back[word] = candidates.argmax(axis=0)
        scores = candidates.max(axis=0) + emissions[word]
    path = [int(scores.argmax())]
    for word in range(emissions.shape[0] - 1, 0, -1):
        path.append(int(back[word, path[-1]]))
    return [tags[i] for i in reversed(path)]


def argmax_tags(log_probs: torch.Tensor, tags: tuple[str, ...]) -> list[str]:
    return [tags[int(i)] for i in log_probs.argmax(dim=-1)]


def decode(log_probs: torch.Tensor, tags: tuple[str, ...], method: str = "viterbi") -> list[str]:
    if method == "viterbi":
        return viterbi(log_probs, tags)
    if method == "argmax":
        return argmax_tags(log_probs, tags)
    raise ValueError(f"unknown decoding {method!r}; expected 'viterbi' or 'argmax'")
