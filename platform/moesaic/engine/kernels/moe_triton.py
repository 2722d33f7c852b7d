"""Fused routed experts in Triton for decode-sized batches: two launches per layer (plus one alignment launch
when assignments are sorted), each reading only the weights of the experts that were hit.

- gate+up: one program per (row block, intermediate tile) computes the gate and the up tile together and
  writes `silu(gate) * up`, so the activation never round-trips through memory at full width;
- down: the same tiling over the hidden size, each row scaled by its routing weight (fp32 out);
- rows are token-expert assignments. Tiny batches (a few tokens) give each assignment its own program and
  read the expert id straight from `topk_ids` (no alignment at all); larger ones are sorted by expert and
  padded to BLOCK_M rows by one single-program alignment kernel (histogram, padded scan, atomic ranks).

Every launch parameter depends only on the number of assignments, so the path is CUDA-graph safe. Unlike
`torch._grouped_mm`, which touches every expert's weights, this reads only the hit experts, which is what
bounds small-batch decode. Imported only on CUDA machines.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

DIRECT_MAX_ASSIGNMENTS = 32  # tokens x top-k up to which each assignment gets its own program (no sort)
ALIGN_MAX_ASSIGNMENTS = 8192  # one program aligns up to this many assignments


@triton.jit
def _expert_gemm_kernel(
    A, W, C, ROUTE_W, TOPK_IDS, SORTED, BLOCK_EXPERT,
    num_valid, N, K, row_div,
    stride_am, stride_we, stride_wn, stride_cm,
    DIRECT: tl.constexpr, GATE_UP: tl.constexpr, SCALE_ROWS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """C[row, n] = act(A[row // row_div] @ W[expert].T) for the assignment rows of one row block.

    GATE_UP: W holds [gate; up] ([2N, K]); C gets silu(gate) * up ([rows, N]).
    SCALE_ROWS: C rows are multiplied by ROUTE_W[row] (the routing weight, fp32).
    DIRECT: program m owns assignment m alone (expert TOPK_IDS[m]); otherwise SORTED / BLOCK_EXPERT say
    which assignments (num_valid = padding) and which expert a block of BLOCK_M rows holds."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    lanes = tl.arange(0, BLOCK_M)
    if DIRECT:
        expert = tl.load(TOPK_IDS + pid_m).to(tl.int64)
        rows = tl.where(lanes == 0, pid_m, num_valid)
    else:
        expert = tl.load(BLOCK_EXPERT + pid_m).to(tl.int64)
        if expert < 0:
            return
        rows = tl.load(SORTED + pid_m * BLOCK_M + lanes)
    valid = rows < num_valid
    a_rows = tl.where(valid, rows // row_div, 0).to(tl.int64)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < N
    ks = tl.arange(0, BLOCK_K)
    a_ptr = A + a_rows[:, None] * stride_am + ks[None, :]
    w_base = W + expert * stride_we + ks[:, None]
    w_ptr = w_base + cols[None, :].to(tl.int64) * stride_wn
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    if GATE_UP:
        u_ptr = w_base + (cols[None, :] + N).to(tl.int64) * stride_wn
        acc_up = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + ks) < K
        a = tl.load(a_ptr, mask=valid[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptr, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(a, w)
        if GATE_UP:
            u = tl.load(u_ptr, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            acc_up += tl.dot(a, u)
            u_ptr += BLOCK_K
        a_ptr += BLOCK_K
        w_ptr += BLOCK_K
    if GATE_UP:
        acc = acc / (1.0 + tl.exp(-acc)) * acc_up
    if SCALE_ROWS:
        acc = acc * tl.load(ROUTE_W + rows, mask=valid, other=0.0)[:, None]
    c_ptr = C + rows.to(tl.int64)[:, None] * stride_cm + cols[None, :]
    tl.store(c_ptr, acc.to(C.dtype.element_ty), mask=valid[:, None] & col_ok[None, :])


@triton.jit
def _align_kernel(
    IDS, SORTED, BLOCK_EXPERT, SCRATCH,
    num, num_experts, max_padded, max_blocks,
    NUM_PAD: tl.constexpr, E_PAD: tl.constexpr, BLOCK_M: tl.constexpr, FILL: tl.constexpr, BLOCKS: tl.constexpr,
):
    """One program: sort assignment ids by expert into per-expert segments padded to BLOCK_M.

    SORTED[max_padded] gets assignment ids (num = padding); BLOCK_EXPERT[max_blocks] gets each row block's
    expert (-1 past the last used block). SCRATCH[2 * E_PAD] int32 holds rank counters and segment starts.
    The order inside one expert's segment is whatever the atomics give; each row is computed alone, so the
    results do not depend on it."""
    offs = tl.arange(0, NUM_PAD)
    mask = offs < num
    ids = tl.load(IDS + offs, mask=mask, other=0).to(tl.int32)
    e = tl.arange(0, E_PAD)
    counts = tl.histogram(tl.where(mask, ids, E_PAD - 1), E_PAD)  # padding lanes land in an unused bin
    counts = tl.where(e < num_experts, counts, 0)
    padded = (counts + BLOCK_M - 1) // BLOCK_M * BLOCK_M
    ends = tl.cumsum(padded, 0)
    tl.store(SCRATCH + e, tl.zeros([E_PAD], dtype=tl.int32))
    tl.store(SCRATCH + E_PAD + e, ends - padded)
    for start in range(0, max_padded, FILL):
        f = start + tl.arange(0, FILL)
        tl.store(SORTED + f, tl.full([FILL], 0, tl.int32) + num, mask=f < max_padded)
    for start in range(0, max_blocks, BLOCKS):
        b = start + tl.arange(0, BLOCKS)
        owner = tl.sum((ends[None, :] <= (b * BLOCK_M)[:, None]).to(tl.int32), axis=1)
        owner = tl.where(owner < num_experts, owner, -1)
        tl.store(BLOCK_EXPERT + b, owner, mask=b < max_blocks)
    tl.debug_barrier()
    rank = tl.atomic_add(SCRATCH + ids, 1, mask=mask)
    seg = tl.load(SCRATCH + E_PAD + ids, mask=mask, other=0)
    tl.store(SORTED + seg + rank, offs, mask=mask)


@triton.jit
def _combine_kernel(Y, OUT, D, TOP_K: tl.constexpr, BLOCK_D: tl.constexpr):
    """OUT[t] = sum of the TOP_K weighted rows Y[t * TOP_K + j] (fp32), stored in OUT's dtype."""
    t = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    ok = d < D
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for j in tl.static_range(TOP_K):
        acc += tl.load(Y + (t * TOP_K + j) * D + d, mask=ok, other=0.0)
    tl.store(OUT + t * D + d, acc.to(OUT.dtype.element_ty), mask=ok)


def align_by_expert(topk_ids: torch.Tensor, num_experts: int, block_m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted assignment ids padded per expert to block_m ([max_padded], pad = T*k) and each block's expert
    id ([max_blocks], -1 for unused blocks). Shapes depend only on T*k, E and block_m."""
    flat = topk_ids.reshape(-1)
    num = flat.numel()
    max_padded = triton.cdiv(num + num_experts * (block_m - 1), block_m) * block_m
    max_blocks = max_padded // block_m
    if num > ALIGN_MAX_ASSIGNMENTS:
        return _align_torch(flat, num_experts, block_m, max_padded)
    sorted_ids = torch.empty(max_padded, dtype=torch.int32, device=flat.device)
    block_expert = torch.empty(max_blocks, dtype=torch.int32, device=flat.device)
    e_pad = triton.next_power_of_2(num_experts + 1)
    scratch = torch.empty(2 * e_pad, dtype=torch.int32, device=flat.device)
    _align_kernel[(1,)](
        flat, sorted_ids, block_expert, scratch, num, num_experts, max_padded, max_blocks,
        NUM_PAD=triton.next_power_of_2(num), E_PAD=e_pad, BLOCK_M=block_m, FILL=1024,
        BLOCKS=max(16, 4096 // e_pad), num_warps=8,
    )
    return sorted_ids, block_expert


def _align_torch(
    flat: torch.Tensor, num_experts: int, block_m: int, max_padded: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same alignment with torch ops (a stable sort), for more assignments than one program holds."""
    num = flat.numel()
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(num_experts, dtype=torch.int64, device=flat.device)
    counts.index_add_(0, flat, torch.ones_like(flat))
    padded = (counts + block_m - 1) // block_m * block_m
    padded_end = torch.cumsum(padded, 0)
    expert_of_sorted = flat[order]
    rank = torch.arange(num, device=flat.device) - (torch.cumsum(counts, 0) - counts)[expert_of_sorted]
    sorted_ids = torch.full((max_padded,), num, dtype=torch.int32, device=flat.device)
    sorted_ids[(padded_end - padded)[expert_of_sorted] + rank] = order.to(torch.int32)
    block_starts = torch.arange(0, max_padded, block_m, device=flat.device)
    block_expert = torch.searchsorted(padded_end, block_starts, right=True)
    return sorted_ids, torch.where(block_expert < num_experts, block_expert, -1).to(torch.int32)


# (block_n, block_k, num_warps, num_stages) per (direct rows?, gate+up?); bench/moe_sweep.py measures them
# (direct rows: the best of 96 configs timed in a CUDA graph, 2026-11-23, H100).
KERNEL_CONFIGS: dict[tuple[bool, bool], tuple[int, int, int, int]] = {
    (True, True): (32, 128, 2, 3),
    (True, False): (64, 128, 2, 3),
    (False, True): (64, 128, 4, 3),
    (False, False): (64, 128, 4, 3),
}


def _launch(
    a: torch.Tensor, w: torch.Tensor, c: torch.Tensor, *, n: int, num: int, row_div: int, gate_up: bool,
    route_w: torch.Tensor | None, topk_ids: torch.Tensor, sorted_ids: torch.Tensor | None,
    block_expert: torch.Tensor | None, block_m: int,
) -> None:
    direct = sorted_ids is None
    block_n, block_k, warps, stages = KERNEL_CONFIGS[(direct, gate_up)]
    grid = (num if direct else block_expert.numel(), triton.cdiv(n, block_n))  # type: ignore[union-attr]
    dummy = topk_ids
    _expert_gemm_kernel[grid](
        a, w, c, route_w if route_w is not None else dummy, topk_ids,
        sorted_ids if sorted_ids is not None else dummy, block_expert if block_expert is not None else dummy,
        num, n, w.shape[2], row_div,
        a.stride(0), w.stride(0), w.stride(1), c.stride(0),
        DIRECT=direct, GATE_UP=gate_up, SCALE_ROWS=route_w is not None,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps, num_stages=stages,
    )


@torch.compiler.disable
def triton_fused_experts(
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k] float32
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    """Returns [T, D]: the routing-weighted sum of each token's experts (summed in fp32)."""
    num_tokens, top_k = topk_ids.shape
    num = num_tokens * top_k
    inter = w13.shape[1] // 2
    x = x.contiguous()
    ids = topk_ids.reshape(-1).contiguous()
    route_w = topk_weights.reshape(-1).float().contiguous()
    sorted_ids = block_expert = None
    block_m = 16 if num <= 1024 else 64
    if num > DIRECT_MAX_ASSIGNMENTS:
        sorted_ids, block_expert = align_by_expert(ids, w13.shape[0], block_m)
    common = dict(num=num, topk_ids=ids, sorted_ids=sorted_ids, block_expert=block_expert, block_m=block_m)
    act = torch.empty(num, inter, dtype=x.dtype, device=x.device)  # [T*k, I], assignment order
    _launch(x, w13, act, n=inter, row_div=top_k, gate_up=True, route_w=None, **common)  # type: ignore[arg-type]
    y = torch.empty(num, w2.shape[1], dtype=torch.float32, device=x.device)  # [T*k, D], weighted
    _launch(act, w2, y, n=w2.shape[1], row_div=1, gate_up=False, route_w=route_w, **common)  # type: ignore[arg-type]
    out = torch.empty(num_tokens, w2.shape[1], dtype=x.dtype, device=x.device)
    block_d = 512
    _combine_kernel[(num_tokens, triton.cdiv(w2.shape[1], block_d))](y, out, w2.shape[1], TOP_K=top_k,
                                                                      BLOCK_D=block_d, num_warps=4)
    return out
