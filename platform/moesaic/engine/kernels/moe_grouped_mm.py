"""Routed experts through `torch._grouped_mm`: tokens sorted by expert, one grouped GEMM for gate+up and
one for down. Every shape depends only on T and k, so the path is CUDA-graph safe (no host sync)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def grouped_mm_experts(
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k]
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    num_tokens, top_k = topk_ids.shape
    num_experts = w13.shape[0]
    flat_ids = topk_ids.reshape(-1)  # [T*k]
    order = torch.argsort(flat_ids, stable=True)  # [T*k] assignment slots sorted by expert
    counts = torch.zeros(num_experts, dtype=torch.int32, device=x.device)
    counts.index_add_(0, flat_ids.to(torch.int64), torch.ones_like(flat_ids, dtype=torch.int32))
    offsets = torch.cumsum(counts, dim=0, dtype=torch.int32)  # [E] end row of each expert
    x_sorted = x[order // top_k]  # [T*k, D]
    gate_up = torch._grouped_mm(x_sorted, w13.transpose(1, 2), offs=offsets)  # [T*k, 2I]
    gate, up = gate_up.chunk(2, dim=-1)
    y_sorted = torch._grouped_mm((F.silu(gate) * up).contiguous(), w2.transpose(1, 2), offs=offsets)  # [T*k, D]
    y = torch.empty_like(y_sorted)
    y[order] = y_sorted
    y = y.view(num_tokens, top_k, -1).float() * topk_weights[..., None]  # [T, k, D]
    return y.sum(dim=1).to(x.dtype)
