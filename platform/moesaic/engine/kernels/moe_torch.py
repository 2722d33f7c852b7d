"""Reference routed-experts computation: loop over the experts that received tokens (CPU, tests)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def torch_experts(
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k]
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    out = torch.zeros_like(x)
    for expert in topk_ids.unique().tolist():
        token_idx, slot = (topk_ids == expert).nonzero(as_tuple=True)
        gate, up = F.linear(x[token_idx], w13[expert]).chunk(2, dim=-1)  # [n, I] each
        y = F.linear(F.silu(gate) * up, w2[expert])  # [n, D]
        out.index_add_(0, token_idx, (y * topk_weights[token_idx, slot, None]).to(x.dtype))
    return out
