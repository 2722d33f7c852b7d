"""Expert selection from router logits in one Triton launch per layer: sigmoid or softmax scores, the
correction bias for selection only, top-k, renormalisation and the routed scaling factor. Replaces a top-k
kernel and several elementwise kernels at decode (the logits GEMV stays with cuBLAS, which spreads it over
the whole GPU). Group-limited routing (n_group > 1) stays on the torch path. Imported only on CUDA."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _router_kernel(
    LOGITS, BIAS, OUT_W, OUT_IDS, scaling,
    E: tl.constexpr, E_PAD: tl.constexpr, TOP_K: tl.constexpr, K_PAD: tl.constexpr, SHARED: tl.constexpr,
    SIGMOID: tl.constexpr, HAS_BIAS: tl.constexpr, RENORM: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    e = tl.arange(0, E_PAD)
    e_ok = e < E
    logits = tl.load(LOGITS + t * E + e, mask=e_ok, other=0.0)
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
