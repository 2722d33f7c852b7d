"""Per-step attention metadata and the reference (pure torch) MLA attention over the paged latent cache.

The cache holds, per layer, `[num_blocks, block_size, kv_lora_rank + qk_rope_head_dim]`: the normalised kv
latent followed by the rotated shared rope key. This module only computes attention from that cache; the
fast CUDA decode kernel lives in `kernels/mla_decode.py`. It does not own or allocate the cache.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AttentionContext:
    """What one forward step needs to read and write the paged cache.

    Prefill: tokens of several sequences are packed; `query_lens[i]` new tokens of sequence i end at
    `context_lens[i]` (cached prefix + new). Decode: one token per sequence.
    """

    is_prefill: bool
    slot_mapping: torch.Tensor  # [T] int64, cache slot of each new token
    context_lens: torch.Tensor  # [B] int32, tokens in the cache after this step
    block_tables: torch.Tensor  # [B, max_blocks] int32
    query_lens: list[int] | None = None  # prefill only
    context_lens_host: list[int] | None = None  # prefill only
    varlen: VarlenBatch | None = None  # prefill on CUDA: packed metadata for one flash-attention call


@dataclass
class VarlenBatch:
    """Packed prefill metadata, built once per step and shared by every layer."""

    cu_query: torch.Tensor  # [B + 1] int32, query offsets
    cu_context: torch.Tensor  # [B + 1] int32, context offsets
    max_query: int
    max_context: int
    context_slots: torch.Tensor | None  # [sum(context)] int64 cache slots; None: no cached prefix anywhere

    @classmethod
    def build(
        cls, query_lens: list[int], context_lens: list[int], block_tables: torch.Tensor, block_size: int
    ) -> VarlenBatch:
        device = block_tables.device
        cu = torch.tensor([0, *itertools.accumulate(query_lens), 0, *itertools.accumulate(context_lens)],
                          dtype=torch.int32, device=device)
        count = len(query_lens) + 1
        slots = None
        if query_lens != context_lens:  # some sequence has cached tokens: gather every context latent
            total = sum(context_lens)
            lens = cu[count + 1 :] - cu[count:-1]
            seq = torch.repeat_interleave(torch.arange(len(context_lens), device=device), lens, output_size=total)
            pos = torch.arange(total, device=device) - cu[count:-1].long()[seq]
            blocks = block_tables[seq, pos // block_size].long()
            slots = blocks * block_size + pos % block_size
        return cls(cu[:count], cu[count:], max(query_lens), max(context_lens), slots)


@torch.compiler.disable
def write_latents(kv_cache: torch.Tensor, latents: torch.Tensor, slot_mapping: torch.Tensor) -> None:
    """Store new latents [T, D] at their slots in kv_cache [N, block, D]."""
    flat = kv_cache.view(-1, kv_cache.shape[-1])  # [N * block, D]
    flat.index_copy_(0, slot_mapping, latents.to(flat.dtype))


def gather_latents(kv_cache: torch.Tensor, block_table: torch.Tensor, length: int) -> torch.Tensor:
    """The first `length` cached latents [length, D] of one sequence."""
    block_size = kv_cache.shape[1]
    num_blocks = (length + block_size - 1) // block_size
    blocks = kv_cache[block_table[:num_blocks].long()]  # [nb, block, D]
    return blocks.reshape(-1, kv_cache.shape[-1])[:length]


def mla_prefill_attention(
    q_nope: torch.Tensor,  # [T, H, nope]
    q_pe: torch.Tensor,  # [T, H, rope]
    kv_cache: torch.Tensor,  # [N, block, r + rope]
    kv_b_weight: torch.Tensor,  # [H * (nope + v), r]
    ctx: AttentionContext,
    scale: float,
    v_head_dim: int,
    w_uk: torch.Tensor | None = None,  # [H, nope, r]
    w_uv: torch.Tensor | None = None,  # [H, v, r]
) -> torch.Tensor:
    """Prefill with causal attention over each sequence's cached context. Returns [T, H, v].

    A chunk that is long relative to its context runs in the expanded (MHA) form: decompress the latents
    through kv_b_proj. A short chunk over a long cached prefix (a prefix-cache hit, a late chunk) runs in
    the absorbed form, which never decompresses the context.
    """
    assert ctx.query_lens is not None and ctx.context_lens_host is not None, "prefill needs host lengths"
    num_heads, nope = q_nope.shape[1], q_nope.shape[2]
    rank = kv_b_weight.shape[1]
    outputs = []
    start = 0
    for i, (q_len, ctx_len) in enumerate(zip(ctx.query_lens, ctx.context_lens_host)):
        latents = gather_latents(kv_cache, ctx.block_tables[i], ctx_len).to(q_nope.dtype)  # [S, r + rope]
        c_kv, k_pe = latents[:, :rank], latents[:, rank:]
        q_pos = torch.arange(ctx_len - q_len, ctx_len, device=q_nope.device)
        if w_uk is not None and w_uv is not None and q_len * 8 <= ctx_len:
            q_lat = torch.einsum("thn,hnr->htr", q_nope[start : start + q_len], w_uk)  # [H, t, r]
            q_rot = q_pe[start : start + q_len].transpose(0, 1)  # [H, t, rope]
            scores = (q_lat @ c_kv.T + q_rot @ k_pe.T).float() * scale  # [H, t, S]
            mask = q_pos[:, None] >= torch.arange(ctx_len, device=q_nope.device)[None, :]
            probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1).to(c_kv.dtype)
            o_lat = probs @ c_kv  # [H, t, r]
            outputs.append(torch.einsum("htr,hvr->thv", o_lat, w_uv))  # [t, H, v]
            start += q_len
            continue
        kv = F.linear(c_kv, kv_b_weight).view(ctx_len, num_heads, nope + v_head_dim)  # [S, H, nope + v]
        k_nope, v = kv.split([nope, v_head_dim], dim=-1)
        k = torch.cat([k_nope, k_pe[:, None, :].expand(-1, num_heads, -1)], dim=-1)  # [S, H, qk]
        q = torch.cat([q_nope[start : start + q_len], q_pe[start : start + q_len]], dim=-1)  # [t, H, qk]
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [H, *, d]
        if q_len == ctx_len:
            if q.is_cuda and v.shape[-1] < q.shape[-1]:
                v = F.pad(v, (0, q.shape[-1] - v.shape[-1]))  # equal head dims: SDPA can pick flash
            out = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True, scale=scale)[0]
        else:
            mask = q_pos[:, None] >= torch.arange(ctx_len, device=q.device)[None, :]  # [t, S]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        outputs.append(out[..., :v_head_dim].transpose(0, 1))  # [t, H, v]
        start += q_len
    return torch.cat(outputs, dim=0)


def mla_prefill_attention_varlen(
    q_nope: torch.Tensor,  # [T, H, nope]
    q_pe: torch.Tensor,  # [T, H, rope]
    latents: torch.Tensor,  # [T, r + rope], this step's new cache entries
    kv_cache: torch.Tensor,  # [N, block, r + rope]
    kv_b_weight: torch.Tensor,  # [H * (nope + v), r]
    batch: VarlenBatch,
    scale: float,
    v_head_dim: int,
) -> torch.Tensor:
    """All sequences of a prefill step in one causal FlashAttention call (expanded form). Returns [T, H, v].

    Keys and values come from the new latents, or, where a sequence has a cached prefix, from every context
    latent gathered out of the paged cache; the causal mask is aligned to the end of each context."""
    num_heads, nope = q_nope.shape[1], q_nope.shape[2]
    rank = kv_b_weight.shape[1]
    if batch.context_slots is not None:
        latents = kv_cache.view(-1, kv_cache.shape[-1]).index_select(0, batch.context_slots)
    c_kv, k_pe = latents.to(q_nope.dtype).split([rank, latents.shape[-1] - rank], dim=-1)
    kv = F.linear(c_kv, kv_b_weight).view(-1, num_heads, nope + v_head_dim)  # [S, H, nope + v]
    k_nope, v = kv.split([nope, v_head_dim], dim=-1)
    k = torch.cat([k_nope, k_pe[:, None, :].expand(-1, num_heads, -1)], dim=-1)  # [S, H, qk]
    q = torch.cat([q_nope, q_pe], dim=-1)  # [T, H, qk]
    v = F.pad(v, (0, q.shape[-1] - v_head_dim))  # flash attention wants equal head dims
    out = torch.ops.aten._flash_attention_forward(
        q, k, v, batch.cu_query, batch.cu_context, batch.max_query, batch.max_context, 0.0, True, False,
        scale=scale,
    )[0]
    return out[..., :v_head_dim]


def flash_varlen_supported(dtype: torch.dtype, qk_head_dim: int) -> bool:
    return (
        torch.cuda.is_available()
        and dtype in (torch.bfloat16, torch.float16)
        and qk_head_dim % 8 == 0
        and qk_head_dim <= 256
        and hasattr(torch.ops.aten, "_flash_attention_forward")
    )


def mla_decode_attention_torch(
    q_lat: torch.Tensor,  # [B, H, r]  (q_nope absorbed through W_UK)
    q_pe: torch.Tensor,  # [B, H, rope]
    kv_cache: torch.Tensor,  # [N, block, r + rope]
    block_tables: torch.Tensor,  # [B, max_blocks]
    context_lens: torch.Tensor,  # [B]
    scale: float,
) -> torch.Tensor:
    """Absorbed-form decode, one query token per sequence, as padded dense math. Returns [B, H, r]."""
    batch, _, rank = q_lat.shape
    block_size = kv_cache.shape[1]
    max_len = block_tables.shape[1] * block_size
    latents = kv_cache[block_tables.long()].reshape(batch, max_len, -1).to(q_lat.dtype)  # [B, S, r + rope]
    c_kv, k_pe = latents[..., :rank], latents[..., rank:]
    scores = torch.einsum("bhr,bsr->bhs", q_lat, c_kv) + torch.einsum("bhp,bsp->bhs", q_pe, k_pe)
    valid = torch.arange(max_len, device=q_lat.device)[None, :] < context_lens[:, None]  # [B, S]
    scores = (scores.float() * scale).masked_fill(~valid[:, None, :], float("-inf"))
    probs = scores.softmax(dim=-1).to(c_kv.dtype)
    return torch.einsum("bhs,bsr->bhr", probs, c_kv)  # [B, H, r]
