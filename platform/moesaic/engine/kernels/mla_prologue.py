"""The MLA decode prologue in one Triton launch: everything between the input projection and the absorbed
attention.

Per token: rotate the query's rope part of every head, RMS-normalise the kv latent, rotate the shared rope
key, and store latent + key at the token's cache slot; for a few tokens, also absorb W_UK into the query
(q_nope @ W_UK per head). In torch this is six to seven kernels per layer (two rope passes, the norm, a
concat, an index copy, a batched GEMM); at batch 1 their launches cost more than their arithmetic.

Rounding follows the torch modules: rope in fp32 on the tables that already hold the YaRN attention factor,
the norm in fp32 then cast, then scaled by the weight. Imported only on CUDA.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rotate_pairs(even, odd, cos, sin):
    """Interleaved RoPE on fp32 pairs (2i, 2i+1)."""
    return even * cos - odd * sin, odd * cos + even * sin


@triton.jit
def _rope_heads(Q, QPE_OUT, t, heads, h_ok, cos, sin, stride_qt, stride_qh,
                H: tl.constexpr, NOPE: tl.constexpr, ROPE: tl.constexpr):
    """Rotated query rope part of the given heads -> QPE_OUT [T, H, ROPE] (contiguous)."""
    half = tl.arange(0, ROPE // 2)
    q_row = Q + t * stride_qt + heads[:, None] * stride_qh + NOPE + 2 * half[None, :]
    q_even = tl.load(q_row, mask=h_ok[:, None], other=0.0).to(tl.float32)
    q_odd = tl.load(q_row + 1, mask=h_ok[:, None], other=0.0).to(tl.float32)
    q_even, q_odd = _rotate_pairs(q_even, q_odd, cos[None, :], sin[None, :])
    out_row = QPE_OUT + (t * H + heads[:, None]) * ROPE + 2 * half[None, :]
    tl.store(out_row, q_even.to(QPE_OUT.dtype.element_ty), mask=h_ok[:, None])
    tl.store(out_row + 1, q_odd.to(QPE_OUT.dtype.element_ty), mask=h_ok[:, None])


@triton.jit
def _latent_to_cache(KV, NORM_W, CACHE, SLOTS, t, cos, sin, eps, stride_kvt, stride_ct,
                     ROPE: tl.constexpr, R: tl.constexpr):
    """RMSNorm of the kv latent and the rotated shared key, stored at the token's cache slot."""
    half = tl.arange(0, ROPE // 2)
    slot = tl.load(SLOTS + t).to(tl.int64)
    r = tl.arange(0, R)
    latent = tl.load(KV + t * stride_kvt + r).to(tl.float32)
    inv = 1.0 / tl.sqrt(tl.sum(latent * latent, 0) / R + eps)
    normed = (latent * inv).to(CACHE.dtype.element_ty).to(tl.float32)
    weight = tl.load(NORM_W + r).to(tl.float32)
    tl.store(CACHE + slot * stride_ct + r, (weight * normed).to(CACHE.dtype.element_ty))
    k_even = tl.load(KV + t * stride_kvt + R + 2 * half).to(tl.float32)
    k_odd = tl.load(KV + t * stride_kvt + R + 2 * half + 1).to(tl.float32)
    k_even, k_odd = _rotate_pairs(k_even, k_odd, cos, sin)
    tl.store(CACHE + slot * stride_ct + R + 2 * half, k_even.to(CACHE.dtype.element_ty))
    tl.store(CACHE + slot * stride_ct + R + 2 * half + 1, k_odd.to(CACHE.dtype.element_ty))


@triton.jit
def _prologue_kernel(
    Q, KV, POS, COS, SIN, NORM_W, CACHE, SLOTS, QPE_OUT, eps,
    stride_qt, stride_qh, stride_kvt, stride_ct,
    H: tl.constexpr, H_PAD: tl.constexpr, NOPE: tl.constexpr, ROPE: tl.constexpr, R: tl.constexpr,
):
    """One program per token: every head's query rope, then the latent and key into the cache."""
    t = tl.program_id(0).to(tl.int64)
    half = tl.arange(0, ROPE // 2)
    pos = tl.load(POS + t).to(tl.int64)
    cos = tl.load(COS + pos * (ROPE // 2) + half)
    sin = tl.load(SIN + pos * (ROPE // 2) + half)
    heads = tl.arange(0, H_PAD)
    _rope_heads(Q, QPE_OUT, t, heads, heads < H, cos, sin, stride_qt, stride_qh, H, NOPE, ROPE)
    _latent_to_cache(KV, NORM_W, CACHE, SLOTS, t, cos, sin, eps, stride_kvt, stride_ct, ROPE, R)


@triton.jit
def _prologue_absorb_kernel(
    Q, KV, POS, COS, SIN, NORM_W, CACHE, SLOTS, QPE_OUT, W_UK, QLAT_OUT, eps,
    stride_qt, stride_qh, stride_kvt, stride_ct,
    H: tl.constexpr, NOPE: tl.constexpr, ROPE: tl.constexpr, R: tl.constexpr, BLOCK_R: tl.constexpr,
):
    """Program (t, i) for i < H * R / BLOCK_R absorbs W_UK for one head h and latent columns
    [j * BLOCK_R, (j + 1) * BLOCK_R): q_lat[t, h] = q_nope[t, h] @ W_UK[h] (fp32 sums), and with j == 0 also
    rotates head h's rope part; the last program (t, H * R / BLOCK_R) writes the latent and key to the
    cache. For a few tokens: each program re-reads its W_UK slice per token."""
    t = tl.program_id(0).to(tl.int64)
    i = tl.program_id(1)
    half = tl.arange(0, ROPE // 2)
    pos = tl.load(POS + t).to(tl.int64)
    cos = tl.load(COS + pos * (ROPE // 2) + half)
    sin = tl.load(SIN + pos * (ROPE // 2) + half)
    if i == H * (R // BLOCK_R):
        _latent_to_cache(KV, NORM_W, CACHE, SLOTS, t, cos, sin, eps, stride_kvt, stride_ct, ROPE, R)
    else:
        h = i // (R // BLOCK_R)
        j = i % (R // BLOCK_R)
        n = tl.arange(0, NOPE)
        cols = j * BLOCK_R + tl.arange(0, BLOCK_R)
        q_nope = tl.load(Q + t * stride_qt + h * stride_qh + n).to(tl.float32)
        w = tl.load(W_UK + (h * NOPE + n[:, None]).to(tl.int64) * R + cols[None, :]).to(tl.float32)
        q_lat = tl.sum(q_nope[:, None] * w, 0)
        tl.store(QLAT_OUT + (t * H + h) * R + cols, q_lat.to(QLAT_OUT.dtype.element_ty))
        if j == 0:
            lane = tl.arange(0, 2)  # the smallest block Triton likes; lane 1 is masked off
            _rope_heads(Q, QPE_OUT, t, h + lane, lane < 1, cos, sin, stride_qt, stride_qh, H, NOPE, ROPE)


@torch.compiler.disable
def mla_decode_prologue(
    q: torch.Tensor,  # [T, H, nope + rope], any row/head strides, last dim contiguous
    kv: torch.Tensor,  # [T, r + rope], last dim contiguous
    positions: torch.Tensor,  # [T]
    cos: torch.Tensor,  # [P, rope / 2] float32
    sin: torch.Tensor,  # [P, rope / 2] float32
    norm_weight: torch.Tensor,  # [r]
    eps: float,
    kv_cache: torch.Tensor,  # [N, block, r + rope]
    slot_mapping: torch.Tensor,  # [T] int64
    w_uk: torch.Tensor | None = None,  # [H, nope, r] contiguous: also absorb it into the query
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Writes each token's normalised latent and rotated key at its slot; returns (q_lat [T, H, r] when
    `w_uk` is given, else None; the rotated query rope part [T, H, rope]), contiguous, in q's dtype."""
    tokens, heads, qk = q.shape
    rope = cos.shape[1] * 2
    r = kv.shape[1] - rope
    q_pe = torch.empty(tokens, heads, rope, dtype=q.dtype, device=q.device)
    q_lat = None if w_uk is None else torch.empty(tokens, heads, r, dtype=q.dtype, device=q.device)
    if tokens == 0:
        return q_lat, q_pe
    assert q.stride(2) == 1 and kv.stride(1) == 1, "last dims must be contiguous"
    flat = kv_cache.view(-1, kv_cache.shape[-1])
    args = (q, kv, positions, cos, sin, norm_weight, flat, slot_mapping, q_pe)
    strides = (q.stride(0), q.stride(1), kv.stride(0), flat.stride(0))
    if w_uk is None:
        _prologue_kernel[(tokens,)](
            *args, float(eps), *strides,
            H=heads, H_PAD=triton.next_power_of_2(heads), NOPE=qk - rope, ROPE=rope, R=r, num_warps=4,
        )
    else:
        assert w_uk.is_contiguous() and w_uk.shape == (heads, qk - rope, r)
        block_r = min(64, r)
        _prologue_absorb_kernel[(tokens, heads * (r // block_r) + 1)](
            *args, w_uk, q_lat, float(eps), *strides,
            H=heads, NOPE=qk - rope, ROPE=rope, R=r, BLOCK_R=block_r, num_warps=4,
        )
    return q_lat, q_pe
