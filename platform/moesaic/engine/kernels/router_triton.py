"""Expert selection in Triton: sigmoid or softmax scores, the correction bias for selection only, top-k,
renormalisation and the routed scaling factor. Group-limited routing (n_group > 1) stays on the torch path.

- `triton_route`: selection from logits computed elsewhere, one program per token (prefill-sized batches,
  where cuBLAS computes the logits GEMM);
- `triton_route_fused`: for a few tokens, the fp32 logits GEMV and the selection in one launch. Each token's
  experts are split over several programs (a single program would read the whole router weight alone); the
  last program to finish a token, found with an atomic counter, selects its experts. At batch 1 this is one
  launch instead of four (input cast, GEMV, GEMV reduction, top-k). The caller owns the counters (one
  set per router, so no two launches share them).

Imported only on CUDA.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _select(
    logits, e, t, BIAS, OUT_W, OUT_IDS, scaling,
    E: tl.constexpr, TOP_K: tl.constexpr, K_PAD: tl.constexpr, SHARED: tl.constexpr,
    SIGMOID: tl.constexpr, HAS_BIAS: tl.constexpr, RENORM: tl.constexpr,
):
    """Top-k of one token's logits (a block over lanes `e`; lanes e >= E ignored); stores weights and ids."""
    e_ok = e < E
    if SIGMOID:
        scores = 1.0 / (1.0 + tl.exp(-logits))
    else:
        z = tl.where(e_ok, logits, float("-inf"))
        z = tl.exp(z - tl.max(z, 0))
        scores = z / tl.sum(z, 0)
    choice = scores
    if HAS_BIAS:
        choice = choice + tl.load(BIAS + e, mask=e_ok, other=0.0)
    choice = tl.where(e_ok, choice, float("-inf"))
    ks = tl.arange(0, K_PAD)
    top_w = tl.zeros([K_PAD], dtype=tl.float32)
    top_ids = tl.zeros([K_PAD], dtype=tl.int64)
    for i in tl.static_range(TOP_K):  # k rounds of argmax over E values
        best = tl.argmax(choice, 0)
        top_w = tl.where(ks == i, tl.sum(tl.where(e == best, scores, 0.0), 0), top_w)
        top_ids = tl.where(ks == i, best.to(tl.int64), top_ids)
        choice = tl.where(e == best, float("-inf"), choice)
    if RENORM:
        top_w = top_w / (tl.sum(top_w, 0) + 1e-20)
    top_w = top_w * scaling
    is_shared = (ks >= TOP_K) & (ks < TOP_K + SHARED)  # folded shared experts: ids E.., weight 1
    top_w = tl.where(is_shared, 1.0, top_w)
    top_ids = tl.where(is_shared, E + ks - TOP_K, top_ids)
    width = TOP_K + SHARED
    k_ok = ks < width
    tl.store(OUT_W + t * width + ks, top_w, mask=k_ok)
    tl.store(OUT_IDS + t * width + ks, top_ids, mask=k_ok)


@triton.jit
def _router_kernel(
    LOGITS, BIAS, OUT_W, OUT_IDS, scaling,
    E: tl.constexpr, E_PAD: tl.constexpr, TOP_K: tl.constexpr, K_PAD: tl.constexpr, SHARED: tl.constexpr,
    SIGMOID: tl.constexpr, HAS_BIAS: tl.constexpr, RENORM: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    e = tl.arange(0, E_PAD)
    logits = tl.load(LOGITS + t * E + e, mask=e < E, other=0.0)
    _select(logits, e, t, BIAS, OUT_W, OUT_IDS, scaling, E, TOP_K, K_PAD, SHARED, SIGMOID, HAS_BIAS, RENORM)


@triton.jit
def _router_gemv_kernel(
    X, W, LOGITS, COUNTER, BIAS, OUT_W, OUT_IDS, scaling, D, stride_xt,
    E: tl.constexpr, E_PAD: tl.constexpr, TOP_K: tl.constexpr, K_PAD: tl.constexpr, SHARED: tl.constexpr,
    SIGMOID: tl.constexpr, HAS_BIAS: tl.constexpr, RENORM: tl.constexpr,
    BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """Program (t, j): logits of experts [j * BLOCK_E, (j + 1) * BLOCK_E) for token t, in fp32. The last of
    token t's programs to arrive selects its experts and resets the counter for the next launch."""
    t = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1)
    experts = j * BLOCK_E + tl.arange(0, BLOCK_E)
    rows_ok = experts < E
    acc = tl.zeros([BLOCK_E, BLOCK_D], dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        d_ok = d < D
        x = tl.load(X + t * stride_xt + d, mask=d_ok, other=0.0).to(tl.float32)
        w = tl.load(W + experts[:, None] * D + d[None, :], mask=rows_ok[:, None] & d_ok[None, :], other=0.0)
        acc += w.to(tl.float32) * x[None, :]
    tl.store(LOGITS + t * E + experts, tl.sum(acc, 1), mask=rows_ok)
    tl.debug_barrier()  # every thread's store is issued before the (single-thread) release below
    arrived = tl.atomic_add(COUNTER + t, 1, sem="acq_rel")  # orders the store above before the count
    if arrived == tl.num_programs(1) - 1:
        e = tl.arange(0, E_PAD)
        logits = tl.load(LOGITS + t * E + e, mask=e < E, other=0.0, cache_modifier=".cg")
        _select(logits, e, t, BIAS, OUT_W, OUT_IDS, scaling, E, TOP_K, K_PAD, SHARED, SIGMOID, HAS_BIAS, RENORM)
        tl.store(COUNTER + t, 0)


@torch.compiler.disable
def triton_route(
    logits: torch.Tensor,  # [T, E] float32
    bias: torch.Tensor | None,  # [E] float32
    top_k: int,
    sigmoid: bool,
    renormalize: bool,
    scaling: float,
    num_shared: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (weights [T, k + S] float32, expert ids [T, k + S] int64), as `Router.forward` does."""
    logits = logits.contiguous()
    tokens, experts = logits.shape
    out_w = torch.empty(tokens, top_k + num_shared, dtype=torch.float32, device=logits.device)
    out_ids = torch.empty(tokens, top_k + num_shared, dtype=torch.int64, device=logits.device)
    if tokens == 0:
        return out_w, out_ids
    _router_kernel[(tokens,)](
        logits, bias if bias is not None else logits, out_w, out_ids, float(scaling),
        E=experts, E_PAD=triton.next_power_of_2(experts), TOP_K=top_k,
        K_PAD=triton.next_power_of_2(top_k + num_shared), SHARED=num_shared,
        SIGMOID=sigmoid, HAS_BIAS=bias is not None, RENORM=renormalize and top_k > 1, num_warps=1,
    )
    return out_w, out_ids


@torch.compiler.disable
def triton_route_fused(
    x: torch.Tensor,  # [T, D]
    weight: torch.Tensor,  # [E, D]; products and sums in fp32 whatever its dtype (bf16 values are exact)
    bias: torch.Tensor | None,
    top_k: int,
    sigmoid: bool,
    renormalize: bool,
    scaling: float,
    num_shared: int = 0,
    arrivals: torch.Tensor | None = None,  # [>= T] int32 zeros, owned by the caller; left zero after the launch
    block_e: int = 2,
    num_warps: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Router logits (fp32, as `F.linear(x.float(), weight)`) and selection in one launch. Each program
    computes `block_e` experts' logits (bench/router_probe.py times the choices)."""
    tokens, dim = x.shape
    experts = weight.shape[0]
    assert arrivals is not None and arrivals.numel() >= tokens and arrivals.dtype == torch.int32
    assert x.stride(1) == 1 and weight.is_contiguous()
    out_w = torch.empty(tokens, top_k + num_shared, dtype=torch.float32, device=x.device)
    out_ids = torch.empty(tokens, top_k + num_shared, dtype=torch.int64, device=x.device)
    if tokens == 0:
        return out_w, out_ids
    logits = torch.empty(tokens, experts, dtype=torch.float32, device=x.device)
    _router_gemv_kernel[(tokens, triton.cdiv(experts, block_e))](
        x, weight, logits, arrivals, bias if bias is not None else logits, out_w, out_ids, float(scaling),
        dim, x.stride(0),
        E=experts, E_PAD=triton.next_power_of_2(experts), TOP_K=top_k,
        K_PAD=triton.next_power_of_2(top_k + num_shared), SHARED=num_shared,
        SIGMOID=sigmoid, HAS_BIAS=bias is not None, RENORM=renormalize and top_k > 1,
        BLOCK_E=block_e, BLOCK_D=min(2048, triton.next_power_of_2(dim)), num_warps=num_warps,
    )
    return out_w, out_ids
