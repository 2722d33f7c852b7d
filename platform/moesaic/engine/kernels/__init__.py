"""Kernel backends behind two entry points, imported lazily so a CPU machine never imports Triton.

- `fused_experts(backend, ...)`: "torch" (loop over the hit experts; CPU and reference), "grouped_mm"
  (tokens sorted by expert, two grouped GEMMs), "triton" (fused kernel reading only the hit experts) or
  "auto" (triton for small batches, grouped_mm for large). The GPU paths are CUDA-graph safe.
- `route(...)`: ungrouped router (scores, bias, top-k, renormalisation, scaling) in one Triton launch;
  `route_fused(...)` also computes the logits, for a few tokens.
- `decode_prologue(...)`: MLA decode rope, kv norm and cache write in one Triton launch.
- `decode_attention_projected(backend, ...)`: "triton" (paged MLA decode kernel in the absorbed form, then
  one launch that merges the context splits and applies W_UV). The torch reference lives in
  `moesaic.engine.attention`.
"""

from __future__ import annotations

import torch

from moesaic.engine.kernels.moe_torch import torch_experts

EXPERT_BACKENDS = ("torch", "grouped_mm", "triton", "auto")
TRITON_MOE_MAX_ASSIGNMENTS = 4096  # tokens x top-k; above this grouped_mm wins (bench/engine_profile.py)
ATTENTION_BACKENDS = ("torch", "triton")


def fused_experts(
    backend: str,
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k]
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    if backend == "torch":
        return torch.compiler.disable(torch_experts)(x, w13, w2, topk_weights, topk_ids)
    if backend == "auto":  # Triton for small batches (reads only hit experts), grouped_mm for large ones
        backend = "triton" if topk_ids.numel() <= TRITON_MOE_MAX_ASSIGNMENTS else "grouped_mm"
    if backend == "triton":
        from moesaic.engine.kernels.moe_triton import triton_fused_experts

        return triton_fused_experts(x, w13, w2, topk_weights, topk_ids)
    if backend == "grouped_mm":
        return _grouped_mm(x, w13, w2, topk_weights, topk_ids)
    raise ValueError(f"unknown experts backend {backend!r}; valid: {EXPERT_BACKENDS}")


@torch.compiler.disable
def decode_attention_projected(
    backend: str,
    q_lat: torch.Tensor,  # [B, H, r]
    q_pe: torch.Tensor,  # [B, H, rope]
    kv_cache: torch.Tensor,  # [N, block, r + rope]
    block_tables: torch.Tensor,  # [B, max_blocks] int32
    context_lens: torch.Tensor,  # [B] int32
    scale: float,
    w_uv: torch.Tensor,  # [H, v, r]
) -> torch.Tensor:
    """Absorbed decode attention followed by W_UV: [B, H, v] in the query's dtype. The Triton backend merges
    the context splits and up-projects in one launch."""
    if backend == "triton":
        from moesaic.engine.kernels.mla_decode import merge_and_up_project, triton_mla_decode

        partial, lse = triton_mla_decode(q_lat, q_pe, kv_cache, block_tables, context_lens, scale)
        return merge_and_up_project(partial, lse, w_uv, q_lat.dtype)
    raise ValueError(f"unknown attention backend {backend!r}; valid: {ATTENTION_BACKENDS}")


def route(
    logits: torch.Tensor, bias: torch.Tensor | None, top_k: int, sigmoid: bool, renormalize: bool, scaling: float,
    num_shared: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ungrouped expert selection from router logits in one Triton launch (CUDA); see `router_triton.py`.
    `num_shared` folded shared experts (ids E..E+S-1, weight 1) are appended to each token's choice."""
    from moesaic.engine.kernels.router_triton import triton_route

    return triton_route(logits, bias, top_k, sigmoid, renormalize, scaling, num_shared)


def route_fused(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, top_k: int, sigmoid: bool, renormalize: bool,
    scaling: float, num_shared: int, arrivals: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For a few tokens: the fp32 router logits GEMV and the selection in one Triton launch (CUDA);
    `arrivals` [>= T] int32 zeros are the kernel's per-token counters."""
    from moesaic.engine.kernels.router_triton import triton_route_fused

    return triton_route_fused(x, weight, bias, top_k, sigmoid, renormalize, scaling, num_shared, arrivals)


def decode_prologue(
    q: torch.Tensor, kv: torch.Tensor, positions: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
    norm_weight: torch.Tensor, eps: float, kv_cache: torch.Tensor, slot_mapping: torch.Tensor,
    w_uk: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """MLA decode prologue (query rope, kv norm, key rope, cache write, and W_UK when given) in one Triton
    launch (CUDA); returns (q_lat [T, H, r] or None, the rotated query rope part [T, H, rope]). See
    `mla_prologue.py`."""
    from moesaic.engine.kernels.mla_prologue import mla_decode_prologue

    return mla_decode_prologue(q, kv, positions, cos, sin, norm_weight, eps, kv_cache, slot_mapping, w_uk)


def grouped_mm_available() -> bool:
    return torch.cuda.is_available() and hasattr(torch, "_grouped_mm")


@torch.compiler.disable
def _grouped_mm(
    x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor, topk_weights: torch.Tensor, topk_ids: torch.Tensor
) -> torch.Tensor:
    from moesaic.engine.kernels.moe_grouped_mm import grouped_mm_experts

    return grouped_mm_experts(x, w13, w2, topk_weights, topk_ids)
