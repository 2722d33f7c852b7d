"""Routed experts through `torch._grouped_mm` (prefill-sized batches): tokens sorted by expert, one grouped
GEMM for gate+up and one for down. The gathers are row `index_select`s and the glue between the GEMMs is
compiled, so a prefill of thousands of tokens is not held up by elementwise passes. Every shape depends only
on T and k, so the path is CUDA-graph safe (no host sync)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.compile(dynamic=True)
def _silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


@torch.compile(dynamic=True)
def _combine(y_sorted: torch.Tensor, inverse: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Rows back in assignment order, weighted, summed over each token's k experts."""
    num_tokens, top_k = weights.shape
    y = y_sorted[inverse].view(num_tokens, top_k, -1).float() * weights[..., None]
    return y.sum(dim=1).to(y_sorted.dtype)


def grouped_mm_experts(
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k]
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    top_k = topk_ids.shape[1]
    num_experts = w13.shape[0]
    flat_ids = topk_ids.reshape(-1)  # [T*k]
    order = torch.argsort(flat_ids, stable=True)  # [T*k] assignment slots sorted by expert
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    counts = torch.zeros(num_experts, dtype=torch.int32, device=x.device)  # (bincount would sync the host)
    counts.index_add_(0, flat_ids, torch.ones_like(flat_ids, dtype=torch.int32))
    offsets = torch.cumsum(counts, dim=0, dtype=torch.int32)  # [E] end row of each expert
    x_sorted = x.index_select(0, order // top_k)  # [T*k, D]
    gate_up = torch._grouped_mm(x_sorted, w13.transpose(1, 2), offs=offsets)  # [T*k, 2I]
    y_sorted = torch._grouped_mm(_silu_mul(gate_up), w2.transpose(1, 2), offs=offsets)  # [T*k, D]
    return _combine(y_sorted, inverse, topk_weights.float())
