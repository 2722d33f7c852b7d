"""Fused routed experts in Triton: token-expert assignments sorted by expert and padded to BLOCK_M rows, one
GEMM program per (row block, column tile) reading only the weights of the expert that block belongs to.

Unlike `torch._grouped_mm`, which touches every expert's weights, this reads only the hit experts, which
is what bounds small-batch decode. The alignment step is pure torch with static shapes (no host sync), so
the path is CUDA-graph safe. Imported only on CUDA machines.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

ONE_PER_BLOCK_MAX = 24  # assignments (tokens x top-k) below which blocks are not sorted by expert


@triton.jit
def _expert_gemm_kernel(
    A, W, C, SORTED, BLOCK_EXPERT, ROW_DIV,
    num_valid, N, K,
    stride_am, stride_we, stride_wn, stride_cm,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """C[row] = A[row // ROW_DIV] @ W[expert].T for the assignment rows of one padded block."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    expert = tl.load(BLOCK_EXPERT + pid_m)
    if expert < 0:
        return
    rows = tl.load(SORTED + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))  # assignment ids, num_valid = padding
    valid = rows < num_valid
    a_rows = tl.where(valid, rows // ROW_DIV, 0).to(tl.int64)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < N
    ks = tl.arange(0, BLOCK_K)
    a_ptr = A + a_rows[:, None] * stride_am + ks[None, :]
    w_ptr = W + expert.to(tl.int64) * stride_we + cols[None, :].to(tl.int64) * stride_wn + ks[:, None]
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + ks) < K
        a = tl.load(a_ptr, mask=valid[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptr, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(a, w)
        a_ptr += BLOCK_K
        w_ptr += BLOCK_K
    c_ptr = C + rows.to(tl.int64)[:, None] * stride_cm + cols[None, :]
    tl.store(c_ptr, acc.to(C.dtype.element_ty), mask=valid[:, None] & col_ok[None, :])


def align_by_expert(topk_ids: torch.Tensor, num_experts: int, block_m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted assignment ids padded per expert to block_m ([max_padded], pad = T*k) and each block's expert
    id ([max_blocks], -1 for unused blocks). Shapes depend only on T*k, E and block_m."""
    flat = topk_ids.reshape(-1)
    num = flat.numel()
    device = flat.device
    order = torch.argsort(flat, stable=True)  # [M]
    counts = torch.zeros(num_experts, dtype=torch.int64, device=device)
    counts.index_add_(0, flat.to(torch.int64), torch.ones_like(flat, dtype=torch.int64))
    padded = (counts + block_m - 1) // block_m * block_m
    start = torch.cumsum(counts, 0) - counts  # [E] first sorted index of each expert
    padded_end = torch.cumsum(padded, 0)
    padded_start = padded_end - padded
    max_padded = num + num_experts * (block_m - 1)
    max_padded = (max_padded + block_m - 1) // block_m * block_m
    expert_of_sorted = flat[order]  # [M]
    rank = torch.arange(num, device=device) - start[expert_of_sorted]
    dest = padded_start[expert_of_sorted] + rank
    sorted_ids = torch.full((max_padded,), num, dtype=torch.int32, device=device)
    sorted_ids[dest] = order.to(torch.int32)
    block_starts = torch.arange(0, max_padded, block_m, device=device)
    block_expert = torch.searchsorted(padded_end, block_starts, right=True)
    block_expert = torch.where(block_expert < num_experts, block_expert, -1).to(torch.int32)
    return sorted_ids, block_expert


def align_one_per_block(topk_ids: torch.Tensor, block_m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny batches: one assignment per block, no sort (a block per assignment reads its expert once)."""
    flat = topk_ids.reshape(-1)
    num = flat.numel()
    sorted_ids = torch.full((num, block_m), num, dtype=torch.int32, device=flat.device)
    sorted_ids[:, 0] = torch.arange(num, dtype=torch.int32, device=flat.device)
    return sorted_ids.view(-1), flat.to(torch.int32)


@torch.compiler.disable
def _gemm(a: torch.Tensor, w: torch.Tensor, out_rows: int, sorted_ids: torch.Tensor, block_expert: torch.Tensor,
          row_div: int, block_m: int) -> torch.Tensor:
    n, k = w.shape[1], w.shape[2]
    c = torch.empty(out_rows, n, dtype=a.dtype, device=a.device)
    block_n, block_k = 64, 128
    grid = (block_expert.numel(), triton.cdiv(n, block_n))
    _expert_gemm_kernel[grid](
        a, w, c, sorted_ids, block_expert, row_div, out_rows, n, k,
        a.stride(0), w.stride(0), w.stride(1), c.stride(0),
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=4, num_stages=3,
    )
    return c


def triton_fused_experts(
    x: torch.Tensor,  # [T, D]
    w13: torch.Tensor,  # [E, 2I, D]
    w2: torch.Tensor,  # [E, D, I]
    topk_weights: torch.Tensor,  # [T, k]
    topk_ids: torch.Tensor,  # [T, k]
) -> torch.Tensor:
    num_tokens, top_k = topk_ids.shape
    num = num_tokens * top_k
    block_m = 16 if num <= 1024 else 64
    if num <= ONE_PER_BLOCK_MAX:
        sorted_ids, block_expert = align_one_per_block(topk_ids, block_m)
    else:
        sorted_ids, block_expert = align_by_expert(topk_ids, w13.shape[0], block_m)
    x = x.contiguous()
    gate_up = _gemm(x, w13, num, sorted_ids, block_expert, top_k, block_m)  # [T*k, 2I], assignment order
    gate, up = gate_up.chunk(2, dim=-1)
    act = (F.silu(gate) * up).contiguous()  # [T*k, I]
    y = _gemm(act, w2, num, sorted_ids, block_expert, 1, block_m)  # [T*k, D]
    y = y.view(num_tokens, top_k, -1).float() * topk_weights[..., None]
    return y.sum(dim=1).to(x.dtype)
