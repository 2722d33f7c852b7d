"""The DeepSeek-V2/V3 transformer, top to bottom as in the papers: RMSNorm, YaRN RoPE, Multi-head Latent
Attention over a paged latent cache, DeepSeekMoE with shared and routed experts.

Parameter names follow the Hugging Face checkpoints, except that gate and up projections are stored fused
(`gate_up_proj`, and `experts.w13` of shape [E, 2I, D] / `experts.w2` of shape [E, D, I]); the loader maps
per-expert checkpoint tensors into them. This module does no scheduling, sampling or weight loading, and
MTP layers are not built.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from moesaic.engine.attention import (
    AttentionContext,
    mla_decode_attention_torch,
    mla_prefill_attention,
    mla_prefill_attention_varlen,
    write_latents,
)
from moesaic.engine.config import ModelConfig
from moesaic.engine.kernels import decode_attention_projected, decode_prologue, fused_experts, route, route_fused

ROUTER_KERNEL_MAX_TOKENS = 4096  # one program per token; prefill-sized batches keep torch's top-k
# Up to here the logits GEMV runs inside the router kernel too (bench/router_probe.py, H100, us per layer
# fused / cuBLAS logits + selection: 1 token 4.0 / 8.5, 16 tokens 4.6 / 12.7).
ROUTER_FUSED_MAX_TOKENS = 16
# Up to here W_UK is applied inside the decode prologue kernel instead of by a bmm after it (each row re-reads
# W_UK there): bench/prologue_probe.py, H100, us per layer absorbed / separate: 1 row 4.0 / 6.6, 8 rows
# 6.4 / 6.7, 16 rows 10.2 / 6.6.
PROLOGUE_ABSORB_MAX_TOKENS = 8
SHARED_FOLD_MAX_TOKENS = 4  # tokens up to which shared experts run inside the routed-expert kernels


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


# ----------------------------------------------------------------------------------------------- RoPE
def _yarn_get_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_inv_freq(cfg: ModelConfig) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [rope/2] and the cos/sin attention factor, plain or YaRN (as in HF and DeepSeek)."""
    dim, base = cfg.qk_rope_head_dim, cfg.rope_theta
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    scaling = cfg.rope_scaling
    if scaling is None:
        return 1.0 / pos_freqs, 1.0
    rope_type = scaling.get("rope_type", scaling.get("type"))
    if rope_type != "yarn":
        raise ValueError(f"rope_scaling type {rope_type!r} is not supported; valid: ('yarn', 'default')")
    factor = float(scaling["factor"])
    orig_max = scaling.get("original_max_position_embeddings", cfg.max_position_embeddings)
    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1
    mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = _yarn_get_mscale(factor, mscale) / _yarn_get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = _yarn_get_mscale(factor)

    def correction_dim(num_rotations: float) -> float:
        return (dim * math.log(orig_max / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolation = 1 - ramp  # 1: keep the original frequency (high-frequency dims)
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, float(attention_factor)


def softmax_scale(cfg: ModelConfig) -> float:
    scale = cfg.qk_head_dim**-0.5
    if cfg.rope_scaling is not None and cfg.rope_scaling.get("mscale_all_dim"):
        mscale = _yarn_get_mscale(float(cfg.rope_scaling["factor"]), float(cfg.rope_scaling["mscale_all_dim"]))
        scale = scale * mscale * mscale
    return scale


class RotaryEmbedding(nn.Module):
    """Interleaved RoPE: dims (2i, 2i+1) rotate together, as the DeepSeek checkpoints are laid out."""

    cos: torch.Tensor  # [P, rope/2], times the YaRN attention factor
    sin: torch.Tensor

    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        super().__init__()
        inv_freq, attention_factor = rope_inv_freq(cfg)
        freqs = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # [P, rope/2]
        self.register_buffer("cos", freqs.cos() * attention_factor, persistent=False)
        self.register_buffer("sin", freqs.sin() * attention_factor, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x [T, ..., rope] rotated at positions [T]."""
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (-1,)
        cos, sin = self.cos[positions].view(shape), self.sin[positions].view(shape)  # [T, 1.., rope/2]
        x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]
        out = torch.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)  # [T, .., rope/2, 2]
        return out.flatten(-2).to(x.dtype)


# ------------------------------------------------------------------------------------------------ MLA
class MultiHeadLatentAttention(nn.Module):
    """MLA: queries (optionally low-rank), keys/values from a shared low-rank latent plus a decoupled rope key.

    Prefill expands the latent into per-head keys/values; decode runs in the absorbed form, folding W_UK
    into the query and W_UV into the output, so it reads only the cached latent.
    """

    def __init__(self, cfg: ModelConfig, rope: RotaryEmbedding) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.nope, self.rope_dim, self.v_dim = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        self.kv_lora_rank = cfg.kv_lora_rank
        self.q_lora_rank = cfg.q_lora_rank
        qk = cfg.qk_head_dim
        if cfg.q_lora_rank is None:
            self.q_proj = nn.Linear(cfg.hidden_size, self.num_heads * qk, bias=False)
        else:
            self.q_a_proj = nn.Linear(cfg.hidden_size, cfg.q_lora_rank, bias=False)
            self.q_a_layernorm = RMSNorm(cfg.q_lora_rank)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, self.num_heads * qk, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(cfg.hidden_size, cfg.kv_lora_rank + cfg.qk_rope_head_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(cfg.kv_lora_rank)
        self.kv_b_proj = nn.Linear(cfg.kv_lora_rank, self.num_heads * (self.nope + self.v_dim), bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.v_dim, cfg.hidden_size, bias=False)
        self.scale = softmax_scale(cfg)
        self.rope = rope
        self.kv_cache: torch.Tensor = torch.empty(0)  # [N, block, r + rope], bound by the runner
        self.attention_backend = "torch"
        self._w_uk: torch.Tensor | None = None
        self._w_uv: torch.Tensor | None = None
        self._input_proj: torch.Tensor | None = None  # [q or q_a rows; kv_a rows], see fuse_input_projections
        self.fused_decode_prologue = False  # CUDA: rope, kv norm and the cache write in one kernel at decode

    def fuse_input_projections(self) -> None:
        """Store the two projections that read the layer input (q or q_a, and kv_a) as one weight so they run
        as one GEMM; the original parameters become views of it (same names, same values)."""
        first = self.q_proj if self.q_lora_rank is None else self.q_a_proj
        fused = torch.cat([first.weight.data, self.kv_a_proj_with_mqa.weight.data])
        rows = first.weight.shape[0]
        first.weight.data = fused[:rows]
        self.kv_a_proj_with_mqa.weight.data = fused[rows:]
        self._input_proj = fused

    def absorbed_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W_UK [H, nope, r] and W_UV [H, v, r], views of kv_b_proj."""
        if self._w_uk is None or self._w_uk.device != self.kv_b_proj.weight.device:
            w = self.kv_b_proj.weight.view(self.num_heads, self.nope + self.v_dim, self.kv_lora_rank)
            self._w_uk, self._w_uv = w[:, : self.nope].contiguous(), w[:, self.nope :].contiguous()
        assert self._w_uk is not None and self._w_uv is not None
        return self._w_uk, self._w_uv

    def forward(self, x: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        if self.fused_decode_prologue and not ctx.is_prefill:
            return self.o_proj(self.decode_fused(x, positions, ctx).flatten(1))
        q_nope, q_pe, latents = self.project(x, positions)
        return self.o_proj(self.attend(q_nope, q_pe, latents, ctx).flatten(1))

    def decode_fused(self, x: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        """Decode on CUDA: the same math as `project` + `attend`, with the per-token elementwise work (rope,
        kv norm, cache write) in one kernel and attention in the Triton kernels. Returns [T, H, v]."""
        q, kv = self.project_inputs(x)
        w_uk, w_uv = self.absorbed_weights()
        absorb = x.shape[0] <= PROLOGUE_ABSORB_MAX_TOKENS and self.nope & (self.nope - 1) == 0  # Triton tile
        q_lat, q_pe = decode_prologue(
            q, kv, positions, self.rope.cos, self.rope.sin, self.kv_a_layernorm.weight, self.kv_a_layernorm.eps,
            self.kv_cache, ctx.slot_mapping, w_uk if absorb else None,
        )
        if q_lat is None:
            q_lat = torch.einsum("thn,hnr->thr", q[..., : self.nope], w_uk)  # [B, H, r]
        return decode_attention_projected(
            self.attention_backend, q_lat, q_pe, self.kv_cache, ctx.block_tables, ctx.context_lens, self.scale, w_uv
        )

    def project(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and the new cache entries: q_nope [T, H, nope], q_pe [T, H, rope], latents [T, r + rope]."""
        q, kv = self.project_inputs(x)
        q_nope, q_pe = q.split([self.nope, self.rope_dim], dim=-1)
        q_pe = self.rope(q_pe, positions)  # [T, H, rope]
        c_kv, k_pe = kv.split([self.kv_lora_rank, self.rope_dim], dim=-1)
        c_kv = self.kv_a_layernorm(c_kv)  # [T, r]
        k_pe = self.rope(k_pe, positions)  # [T, rope]
        return q_nope, q_pe, torch.cat([c_kv, k_pe], dim=-1)

    def project_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The projections of the layer input, before rope and norm: q [T, H, qk], kv [T, r + rope]."""
        tokens = x.shape[0]
        if self._input_proj is not None:
            q, kv = F.linear(x, self._input_proj).split(
                [self._input_proj.shape[0] - self.kv_lora_rank - self.rope_dim, self.kv_lora_rank + self.rope_dim],
                dim=-1,
            )
            if self.q_lora_rank is not None:
                q = self.q_b_proj(self.q_a_layernorm(q))
        else:
            q = self.q_proj(x) if self.q_lora_rank is None else self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
            kv = self.kv_a_proj_with_mqa(x)
        return q.reshape(tokens, self.num_heads, self.nope + self.rope_dim), kv

    def attend(
        self, q_nope: torch.Tensor, q_pe: torch.Tensor, latents: torch.Tensor, ctx: AttentionContext
    ) -> torch.Tensor:
        """Store the new latents, attend over the cache. Returns [T, H, v]."""
        write_latents(self.kv_cache, latents, ctx.slot_mapping)
        if ctx.is_prefill and ctx.varlen is not None:
            return mla_prefill_attention_varlen(
                q_nope, q_pe, latents, self.kv_cache, self.kv_b_proj.weight, ctx.varlen, self.scale, self.v_dim
            )
        if ctx.is_prefill:
            w_uk, w_uv = self.absorbed_weights()
            out = mla_prefill_attention(
                q_nope, q_pe, self.kv_cache, self.kv_b_proj.weight, ctx, self.scale, self.v_dim, w_uk, w_uv
            )  # [T, H, v]
        else:
            w_uk, w_uv = self.absorbed_weights()
            q_lat = torch.einsum("thn,hnr->thr", q_nope, w_uk)  # [B, H, r]
            if self.attention_backend == "torch":
                o_lat = mla_decode_attention_torch(
                    q_lat, q_pe, self.kv_cache, ctx.block_tables, ctx.context_lens, self.scale
                )
            else:
                return decode_attention_projected(
                    self.attention_backend, q_lat, q_pe, self.kv_cache, ctx.block_tables, ctx.context_lens,
                    self.scale, w_uv,
                )  # [B, H, v]
            out = torch.einsum("thr,hvr->thv", o_lat.to(q_nope.dtype), w_uv)  # [B, H, v]
        return out


# ------------------------------------------------------------------------------------------------ MoE
class MLP(nn.Module):
    """SwiGLU feed-forward with gate and up fused: [2I, D]."""

    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.intermediate = intermediate
        self.gate_up_proj = nn.Linear(hidden, 2 * intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).split(self.intermediate, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Router(nn.Module):
    """Expert selection: softmax (V2) or sigmoid (V3) scores, group-limited top-k, the correction bias used
    for selection only, optional renormalisation, and the routed scaling factor."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.hidden_size))
        self._weight_fp32: torch.Tensor | None = None
        self.use_kernel = False  # set on CUDA for ungrouped routing (Triton router)
        # With use_kernel, set on CUDA: per-token counters [ROUTER_FUSED_MAX_TOKENS] int32 that let a few
        # tokens' logits GEMV run inside the router kernel too (see `route_fused`).
        self.arrivals: torch.Tensor | None = None
        self.shared_ids = torch.empty(0, dtype=torch.int64)  # folded shared experts, appended when asked
        if cfg.uses_correction_bias:
            self.register_buffer("e_score_correction_bias", torch.zeros(cfg.n_routed_experts, dtype=torch.float32))
        else:
            self.e_score_correction_bias = None

    def weight_fp32(self) -> torch.Tensor:
        if self._weight_fp32 is None or self._weight_fp32.device != self.weight.device:
            self._weight_fp32 = self.weight.detach().float()
        return self._weight_fp32

    def forward(self, x: torch.Tensor, fold_shared: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (weights [T, k] float32, expert ids [T, k] int64); with `fold_shared`, the folded shared
        experts follow each token's top-k ([T, k + S], weight 1)."""
        cfg = self.cfg
        num_shared = self.shared_ids.numel() if fold_shared else 0
        if self.use_kernel and self.arrivals is not None and x.shape[0] <= ROUTER_FUSED_MAX_TOKENS:
            return route_fused(  # reads the low-precision weight (half the bytes), computes in fp32
                x, self.weight, self.e_score_correction_bias, cfg.num_experts_per_tok, cfg.scoring_func == "sigmoid",
                cfg.norm_topk_prob, cfg.routed_scaling_factor, num_shared, self.arrivals,
            )
        weight = self.weight if self.weight.dtype == torch.float32 else self.weight_fp32()
        logits = F.linear(x.float(), weight)  # [T, E]
        if self.use_kernel and x.shape[0] <= ROUTER_KERNEL_MAX_TOKENS:
            return route(
                logits, self.e_score_correction_bias, cfg.num_experts_per_tok, cfg.scoring_func == "sigmoid",
                cfg.norm_topk_prob, cfg.routed_scaling_factor, num_shared,
            )
        weights, ids = self.select(logits)
        if fold_shared and self.shared_ids.numel():
            shared = self.shared_ids.expand(ids.shape[0], -1)
            return torch.cat([weights, torch.ones_like(shared, dtype=weights.dtype)], 1), torch.cat([ids, shared], 1)
        return weights, ids

    def select(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        scores = logits.sigmoid() if cfg.scoring_func == "sigmoid" else logits.softmax(dim=-1)
        choice = scores if self.e_score_correction_bias is None else scores + self.e_score_correction_bias
        if cfg.uses_group_limited_routing:
            grouped = choice.view(-1, cfg.n_group, cfg.n_routed_experts // cfg.n_group)  # [T, G, E/G]
            if cfg.topk_method == "noaux_tc":
                group_scores = grouped.topk(2, dim=-1).values.sum(dim=-1)  # [T, G]
            else:
                group_scores = grouped.max(dim=-1).values
            group_idx = group_scores.topk(cfg.topk_group, dim=-1, sorted=False).indices
            group_mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, group_idx, True)
            choice = grouped.masked_fill(~group_mask[..., None], float("-inf")).flatten(1)
        topk_ids = choice.topk(cfg.num_experts_per_tok, dim=-1, sorted=False).indices  # [T, k]
        topk_weights = scores.gather(1, topk_ids)
        if cfg.norm_topk_prob and cfg.num_experts_per_tok > 1:
            topk_weights = topk_weights / (topk_weights.sum(dim=-1, keepdim=True) + 1e-20)
        return topk_weights * cfg.routed_scaling_factor, topk_ids


class RoutedExperts(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        e, d, i = cfg.n_routed_experts, cfg.hidden_size, cfg.moe_intermediate_size
        self.w13 = nn.Parameter(torch.empty(e, 2 * i, d))  # gate ; up
        self.w2 = nn.Parameter(torch.empty(e, d, i))
        self.backend = "torch"
        # With the shared experts folded in (GPU): [E + S, ...] tensors whose first E rows back w13 / w2.
        self.w13_all: torch.Tensor | None = None
        self.w2_all: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, topk_weights: torch.Tensor, topk_ids: torch.Tensor) -> torch.Tensor:
        if self.w13_all is not None and self.w2_all is not None:
            return fused_experts(self.backend, x, self.w13_all, self.w2_all, topk_weights, topk_ids)
        return fused_experts(self.backend, x, self.w13, self.w2, topk_weights, topk_ids)


class DeepseekMoE(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.gate = Router(cfg)
        self.experts = RoutedExperts(cfg)
        self.shared_experts = (
            MLP(cfg.hidden_size, cfg.moe_intermediate_size * cfg.n_shared_experts) if cfg.n_shared_experts else None
        )

    def fuse_shared_experts(self) -> None:
        """Fold the shared experts into the routed-expert kernels as S more experts that every token uses with
        weight 1 (the shared MLP of width S*I is S experts of width I: SwiGLU is per column and the down
        projection is linear). One kernel pair then reads routed and shared weights together."""
        shared = self.shared_experts
        if shared is None:
            return
        e, inter = self.cfg.n_routed_experts, self.cfg.moe_intermediate_size
        count = shared.intermediate // inter
        gate, up = shared.gate_up_proj.weight.data.split(shared.intermediate)  # [S*I, D] each
        down = shared.down_proj.weight.data  # [D, S*I]
        w13, w2 = self.experts.w13, self.experts.w2
        w13_all = w13.new_empty(e + count, *w13.shape[1:])
        w2_all = w2.new_empty(e + count, *w2.shape[1:])
        w13_all[:e].copy_(w13.data)
        w2_all[:e].copy_(w2.data)
        for s in range(count):
            cols = slice(s * inter, (s + 1) * inter)
            w13_all[e + s] = torch.cat([gate[cols], up[cols]])
            w2_all[e + s] = down[:, cols]
        w13.data, w2.data = w13_all[:e], w2_all[:e]  # the parameters keep their names and values
        self.experts.w13_all, self.experts.w2_all = w13_all, w2_all
        self.gate.shared_ids = torch.arange(e, e + count, device=w13.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Folding pays at a few tokens (one launch pair reads everything); with more tokens the shared MLP
        # is a dense GEMM that reads its weights once, while a folded expert would be read per row block.
        fold = self.gate.shared_ids.numel() > 0 and x.shape[0] <= SHARED_FOLD_MAX_TOKENS
        topk_weights, topk_ids = self.gate(x, fold)  # folded: [T, k + S]
        out = self.experts(x, topk_weights, topk_ids)
        if self.shared_experts is not None and not fold:
            out = out + self.shared_experts(x)
        return out


# ---------------------------------------------------------------------------------------------- model
class DecoderLayer(nn.Module):
    """One pre-norm block. The residual stream is carried as (delta, stream): the hidden state is their sum,
    and a layer adds the previous layer's output (delta) to the stream first thing, where the compiler fuses
    the add into the input norm, instead of in a kernel of its own at the end of the previous layer. The math
    is `x + attn(norm(x))`, `x + mlp(norm(x))` as before; eager runs give the same values, while under
    torch.compile the norm may now read the sum before it is rounded to the model dtype (as it already did
    for the post-attention norm)."""

    def __init__(self, cfg: ModelConfig, layer_idx: int, rope: RotaryEmbedding) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = MultiHeadLatentAttention(cfg, rope)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp: nn.Module = (
            DeepseekMoE(cfg) if cfg.is_moe_layer(layer_idx) else MLP(cfg.hidden_size, cfg.intermediate_size)
        )
        # Set by the runner on CUDA: the whole layer for decode; the parts around attention for prefill.
        self.compiled_decode: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
        self.compiled_pre: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] | None = None
        self.compiled_post: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(
        self, delta: torch.Tensor, stream: torch.Tensor | None, positions: torch.Tensor, ctx: AttentionContext
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(delta, stream) in, (this layer's MLP output, the stream before it) out; stream None: delta is
        the embedding."""
        if self.compiled_decode is not None and not ctx.is_prefill:
            return self.compiled_decode(delta, stream, positions, ctx)
        if self.compiled_pre is not None and self.compiled_post is not None and ctx.is_prefill:
            q_nope, q_pe, latents, stream = self.compiled_pre(delta, stream, positions)
            return self.compiled_post(stream, self.self_attn.attend(q_nope, q_pe, latents, ctx))
        return self.layer_forward(delta, stream, positions, ctx)

    def pre_attention(
        self, delta: torch.Tensor, stream: torch.Tensor | None, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = delta if stream is None else stream + delta
        return (*self.self_attn.project(self.input_layernorm(x), positions), x)

    def post_attention(self, x: torch.Tensor, attn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.self_attn.o_proj(attn.flatten(1))
        return self.mlp(self.post_attention_layernorm(x)), x

    def layer_forward(
        self, delta: torch.Tensor, stream: torch.Tensor | None, positions: torch.Tensor, ctx: AttentionContext
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = delta if stream is None else stream + delta
        x = x + self.self_attn(self.input_layernorm(x), positions, ctx)
        return self.mlp(self.post_attention_layernorm(x)), x


def add_and_norm(norm: RMSNorm, delta: torch.Tensor, stream: torch.Tensor | None) -> torch.Tensor:
    """The final norm over the last layer's (delta, stream)."""
    return norm(delta if stream is None else stream + delta)


class DeepseekModel(nn.Module):
    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.rotary = RotaryEmbedding(cfg, max_positions)
        self.layers = nn.ModuleList(DecoderLayer(cfg, i, self.rotary) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.compiled_final_norm: Callable[..., torch.Tensor] | None = None  # set by the runner on CUDA

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        delta, stream = self.embed_tokens(input_ids), None  # [T, D]
        for layer in self.layers:
            delta, stream = layer(delta, stream, positions, ctx)
        return (self.compiled_final_norm or add_and_norm)(self.norm, delta, stream)


class DeepseekForCausalLM(nn.Module):
    """Packed-token forward: input_ids [T], positions [T] -> hidden [T, D]; `logits` maps rows to vocab."""

    def __init__(self, cfg: ModelConfig, max_positions: int) -> None:
        super().__init__()
        self.config = cfg
        self.model = DeepseekModel(cfg, max_positions)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, ctx: AttentionContext) -> torch.Tensor:
        return self.model(input_ids, positions, ctx)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden).float()  # [T, V]

    def decoder_layers(self) -> list[DecoderLayer]:
        return [layer for layer in self.model.layers if isinstance(layer, DecoderLayer)]

    def mla_layers(self) -> list[MultiHeadLatentAttention]:
        return [layer.self_attn for layer in self.decoder_layers()]

    def set_backends(self, attention: str, experts: str) -> None:
        for layer in self.decoder_layers():
            layer.self_attn.attention_backend = attention
            if isinstance(layer.mlp, DeepseekMoE):
                layer.mlp.experts.backend = experts
