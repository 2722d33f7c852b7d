"""Turn last-position logits into next tokens: repetition penalty, temperature, top-k, top-p, seeds.

Greedy rows take the argmax. Sampled rows use the exponential-race trick (argmax of p / Exp(1)), drawing
the noise from a per-request generator when the request has a seed, so its tokens do not depend on the
batch it ran in.
"""

from __future__ import annotations

import torch

from moesaic.engine.sequence import Sequence


def apply_repetition_penalty(logits: torch.Tensor, seqs: list[Sequence]) -> torch.Tensor:
    for row, seq in enumerate(seqs):
        penalty = seq.params.repetition_penalty
        if penalty == 1.0:
            continue
        ids = torch.tensor(sorted(set(seq.token_ids)), device=logits.device)
        values = logits[row, ids]
        logits[row, ids] = torch.where(values > 0, values / penalty, values * penalty)
    return logits


def filter_top_k_top_p(logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """logits [B, V]; top_k [B] (0 = off); top_p [B] (1 = off)."""
    sorted_logits, sorted_idx = logits.sort(dim=-1, descending=True)
    vocab = logits.shape[-1]
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, vocab)).clamp(max=vocab)
    ranks = torch.arange(vocab, device=logits.device)[None, :]
    remove = ranks >= k[:, None]
    probs = sorted_logits.softmax(dim=-1)
    cumulative = probs.cumsum(dim=-1) - probs  # mass before each token
    remove |= cumulative > top_p[:, None]
    remove[:, 0] = False
    sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
    return torch.empty_like(logits).scatter_(1, sorted_idx, sorted_logits)


def sample_tensor(logits: torch.Tensor, seqs: list[Sequence], offset: int = 0) -> torch.Tensor:
    """logits [B, V] float32 -> next token ids [B] on the logits' device, without a host sync.

    `offset` is how many tokens each sequence has been given beyond `seq.num_output_tokens` by earlier
    steps of the same multi-step run, so seeded noise depends only on the token's position."""
    logits = apply_repetition_penalty(logits, seqs)
    greedy = logits.argmax(dim=-1)
    if all(seq.params.is_greedy for seq in seqs):
        return greedy
    device = logits.device
    temps = torch.tensor([s.params.temperature or 1.0 for s in seqs], device=device)
    top_k = torch.tensor([s.params.top_k for s in seqs], device=device)
    top_p = torch.tensor([s.params.top_p for s in seqs], device=device)
    filtered = filter_top_k_top_p(logits / temps[:, None], top_k, top_p)
    probs = filtered.softmax(dim=-1)
    noise = torch.empty_like(probs).exponential_()
    for row, seq in enumerate(seqs):
        if seq.params.seed is not None:
            position = seq.num_output_tokens + offset
            gen = torch.Generator(device=device).manual_seed(seq.params.seed * 1_000_003 + position)
            noise[row] = torch.empty(probs.shape[1], device=device).exponential_(generator=gen)
    sampled = (probs / noise).argmax(dim=-1)
    is_greedy = torch.tensor([s.params.is_greedy for s in seqs], device=device)
    return torch.where(is_greedy, greedy, sampled)


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
    """logits [B, V] float32 -> one token id per sequence."""
    return sample_tensor(logits, seqs).tolist()
