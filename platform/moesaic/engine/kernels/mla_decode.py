"""Triton MLA decode over the paged latent cache, in the absorbed form (split-K flash decoding).

Each program takes one sequence, a block of heads and one split of its context; it streams latent tiles
[BLOCK_N, r + rope] straight from the paged cache (no gather copy), scores them against the absorbed query
with an online softmax, and writes a partial output and its log-sum-exp. `merge_and_up_project` merges the
splits and applies W_UV in one more launch (`merge_splits` is the torch reference for the merge alone).
Every launch parameter depends only on the batch size, so the kernels are CUDA-graph safe.
Imported only on CUDA machines.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MERGE_ROW_KERNEL_MAX_BATCH = 16  # up to here one program per (sequence, head); above, tensor-core blocks


@triton.jit
def _mla_decode_kernel(
    Q, QPE, KV, BT, LENS, O, LSE, scale,
    stride_qb, stride_qh, stride_pb, stride_ph, stride_btb,
    stride_ob, stride_oh, stride_os, stride_lb, stride_lh,
    H: tl.constexpr, R: tl.constexpr, P: tl.constexpr, PAGE: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr, NUM_SPLITS: tl.constexpr,
):
    b = tl.program_id(0)
    hb = tl.program_id(1)
    split = tl.program_id(2)
    heads = hb * BLOCK_H + tl.arange(0, BLOCK_H)
    hmask = heads < H
    r = tl.arange(0, R)
    p = tl.arange(0, P)
    q = tl.load(Q + b * stride_qb + heads[:, None] * stride_qh + r[None, :], mask=hmask[:, None], other=0.0)
    qpe = tl.load(QPE + b * stride_pb + heads[:, None] * stride_ph + p[None, :], mask=hmask[:, None], other=0.0)
    length = tl.load(LENS + b)
    per_split = tl.cdiv(tl.cdiv(length, NUM_SPLITS), BLOCK_N) * BLOCK_N
    start = split * per_split
    end = tl.minimum(start + per_split, length)

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, R], dtype=tl.float32)
    for n0 in range(start, end, BLOCK_N):
        t = n0 + tl.arange(0, BLOCK_N)
        tmask = t < end
        block = tl.load(BT + b * stride_btb + t // PAGE, mask=tmask, other=0)
        row = (block.to(tl.int64) * PAGE + t % PAGE) * (R + P)
        kv = tl.load(KV + row[:, None] + r[None, :], mask=tmask[:, None], other=0.0)  # [BN, R]
        kpe = tl.load(KV + row[:, None] + R + p[None, :], mask=tmask[:, None], other=0.0)  # [BN, P]
        qk = tl.dot(q, tl.trans(kv)) + tl.dot(qpe, tl.trans(kpe))  # [BH, BN]
        qk = tl.where(tmask[None, :], qk * scale, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        alpha = tl.exp(m_i - m_new)
        probs = tl.exp(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(probs, 1)
        acc = acc * alpha[:, None] + tl.dot(probs.to(kv.dtype), kv)
        m_i = m_new

    has = l_i > 0
    out = acc / tl.where(has, l_i, 1.0)[:, None]
    lse = tl.where(has, m_i + tl.log(tl.where(has, l_i, 1.0)), float("-inf"))
    tl.store(O + b * stride_ob + heads[:, None] * stride_oh + split * stride_os + r[None, :], out, mask=hmask[:, None])
    tl.store(LSE + b * stride_lb + heads * stride_lh + split, lse, mask=hmask)


def num_splits_for(batch: int, num_heads: int, block_h: int = 16, num_sms: int = 132) -> int:
    programs = batch * triton.cdiv(num_heads, block_h)
    return max(1, min(16, (2 * num_sms) // max(programs, 1)))


def triton_mla_decode(
    q_lat: torch.Tensor,  # [B, H, r]
    q_pe: torch.Tensor,  # [B, H, rope]
    kv_cache: torch.Tensor,  # [N, page, r + rope]
    block_tables: torch.Tensor,  # [B, max_blocks] int32
    context_lens: torch.Tensor,  # [B] int32
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    batch, num_heads, rank = q_lat.shape
    rope = q_pe.shape[-1]
    page = kv_cache.shape[1]
    block_h, block_n = 16, 32
    splits = num_splits_for(batch, num_heads, block_h)
    q_lat = q_lat.to(kv_cache.dtype)
    q_pe = q_pe.to(kv_cache.dtype)
    if q_lat.stride(-1) != 1:  # the kernel takes batch and head strides; only the last dim must be dense
        q_lat = q_lat.contiguous()
    if q_pe.stride(-1) != 1:
        q_pe = q_pe.contiguous()
    partial = torch.empty(batch, num_heads, splits, rank, dtype=torch.float32, device=q_lat.device)
    lse = torch.empty(batch, num_heads, splits, dtype=torch.float32, device=q_lat.device)
    grid = (batch, triton.cdiv(num_heads, block_h), splits)
    _mla_decode_kernel[grid](
        q_lat, q_pe, kv_cache, block_tables, context_lens, partial, lse, scale,
        q_lat.stride(0), q_lat.stride(1), q_pe.stride(0), q_pe.stride(1), block_tables.stride(0),
        partial.stride(0), partial.stride(1), partial.stride(2), lse.stride(0), lse.stride(1),
        H=num_heads, R=rank, P=rope, PAGE=page, BLOCK_H=block_h, BLOCK_N=block_n, NUM_SPLITS=splits,
        num_warps=4, num_stages=2,
    )
    return partial, lse  # merged by `merge_and_up_project`


def merge_splits(partial: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """partial [B, H, S, r], lse [B, H, S] -> [B, H, r]: the split merge in torch (reference for tests)."""
    if partial.shape[2] == 1:
        return partial[:, :, 0]
    weights = torch.softmax(lse, dim=-1)  # [B, H, S]
    return (partial * weights[..., None]).sum(dim=2)


@triton.jit
def _merge_up_row_kernel(
    PARTIAL, LSE, WUV, OUT,
    stride_pb, stride_ph, stride_ps, stride_lb, stride_lh, stride_wh, stride_wv, stride_ob, stride_oh,
    S: tl.constexpr, S_PAD: tl.constexpr, R: tl.constexpr, V: tl.constexpr, BLOCK_V: tl.constexpr,
):
    """Small batches: one program per (sequence, head, column block), no tensor cores, all splits at once."""
    b = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1).to(tl.int64)
    vb = tl.program_id(2)
    s = tl.arange(0, S_PAD)
    s_ok = s < S
    r = tl.arange(0, R)
    lse = tl.load(LSE + b * stride_lb + h * stride_lh + s, mask=s_ok, other=float("-inf"))
    top = tl.max(lse, 0)
    top = tl.where(top == float("-inf"), 0.0, top)
    weight = tl.where(s_ok, tl.exp(lse - top), 0.0)
    weight = weight / tl.maximum(tl.sum(weight, 0), 1e-30)
    part = tl.load(PARTIAL + b * stride_pb + h * stride_ph + s[:, None] * stride_ps + r[None, :],
                   mask=s_ok[:, None], other=0.0)
    o_lat = tl.sum(part * weight[:, None], axis=0)  # [R] fp32
    v = vb * BLOCK_V + tl.arange(0, BLOCK_V)
    w = tl.load(WUV + h * stride_wh + v[:, None] * stride_wv + r[None, :], mask=(v < V)[:, None], other=0.0)
    out = tl.sum(w.to(tl.float32) * o_lat[None, :], axis=1)  # [BLOCK_V]
    tl.store(OUT + b * stride_ob + h * stride_oh + v, out.to(OUT.dtype.element_ty), mask=v < V)


@triton.jit
def _merge_up_kernel(
    PARTIAL, LSE, WUV, OUT, batch,
    stride_pb, stride_ph, stride_ps, stride_lb, stride_lh, stride_wh, stride_wv, stride_ob, stride_oh,
    S: tl.constexpr, S_PAD: tl.constexpr, R: tl.constexpr, V: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_R: tl.constexpr,
):
    """out[b, h, v] = W_UV[h, v, :] . (splits of partial[b, h] merged by their log-sum-exp), for a block of
    BLOCK_B sequences and BLOCK_V output columns of one head (a tensor-core dot over the latent rank)."""
    bb = tl.program_id(0)
    h = tl.program_id(1).to(tl.int64)
    vb = tl.program_id(2)
    rows = bb * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < batch
    rows64 = rows.to(tl.int64)
    s = tl.arange(0, S_PAD)
    s_ok = s < S
    lse = tl.load(LSE + rows64[:, None] * stride_lb + h * stride_lh + s[None, :],
                  mask=row_ok[:, None] & s_ok[None, :], other=float("-inf"))  # [BB, S]
    top = tl.max(lse, 1)
    top = tl.where(top == float("-inf"), 0.0, top)
    weight = tl.exp(lse - top[:, None])
    weight = weight / tl.maximum(tl.sum(weight, 1), 1e-30)[:, None]
    v = vb * BLOCK_V + tl.arange(0, BLOCK_V)
    v_ok = v < V
    out = tl.zeros([BLOCK_B, BLOCK_V], dtype=tl.float32)
    for r0 in range(0, R, BLOCK_R):  # chunks of the latent rank keep the tiles in registers
        r = r0 + tl.arange(0, BLOCK_R)
        o_lat = tl.zeros([BLOCK_B, BLOCK_R], dtype=tl.float32)
        for i in tl.static_range(S):
            w_i = tl.sum(tl.where(s[None, :] == i, weight, 0.0), 1)  # [BB]
            part = tl.load(PARTIAL + rows64[:, None] * stride_pb + h * stride_ph + i * stride_ps + r[None, :],
                           mask=row_ok[:, None], other=0.0)
            o_lat += part * w_i[:, None]
        w = tl.load(WUV + h * stride_wh + v[None, :] * stride_wv + r[:, None], mask=v_ok[None, :], other=0.0)
        out += tl.dot(o_lat.to(w.dtype), w)  # [BB, BV]
    tl.store(OUT + rows64[:, None] * stride_ob + h * stride_oh + v[None, :], out.to(OUT.dtype.element_ty),
             mask=row_ok[:, None] & v_ok[None, :])


def merge_and_up_project(partial: torch.Tensor, lse: torch.Tensor, w_uv: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Merge the decode splits and apply W_UV in one launch: partial [B, H, S, r] fp32, lse [B, H, S],
    w_uv [H, v, r] -> [B, H, v] in `dtype` (the absorbed form's output, ready for o_proj)."""
    batch, heads, splits, rank = partial.shape
    v_dim = w_uv.shape[1]
    out = torch.empty(batch, heads, v_dim, dtype=dtype, device=partial.device)
    strides = (partial.stride(0), partial.stride(1), partial.stride(2), lse.stride(0), lse.stride(1),
               w_uv.stride(0), w_uv.stride(1), out.stride(0), out.stride(1))
    s_pad = max(2, triton.next_power_of_2(splits))
    if batch <= MERGE_ROW_KERNEL_MAX_BATCH:
        block_v = 32
        _merge_up_row_kernel[(batch, heads, triton.cdiv(v_dim, block_v))](
            partial, lse, w_uv, out, *strides, S=splits, S_PAD=s_pad, R=rank, V=v_dim, BLOCK_V=block_v, num_warps=4,
        )
        return out
    block_b, block_v = 16, 64
    grid = (triton.cdiv(batch, block_b), heads, triton.cdiv(v_dim, block_v))
    _merge_up_kernel[grid](
        partial, lse, w_uv, out, batch, *strides,
        S=splits, S_PAD=s_pad, R=rank, V=v_dim, BLOCK_B=block_b, BLOCK_V=block_v, BLOCK_R=min(64, rank), num_warps=4,
    )
    return out
