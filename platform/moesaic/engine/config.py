"""Typed configuration for the engine: the model (read from a Hugging Face config.json) and the engine.

`ModelConfig` covers the DeepSeek-V2/V3 family (V2-Lite, V3/R1, Moonlight, Kimi-K2). It does not carry
training-only fields, and MTP layers (`num_nextn_predict_layers`) are recorded but never built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_MODEL_TYPES = ("deepseek_v2", "deepseek_v3", "kimi_k2")


@dataclass(frozen=True)
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    moe_intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    n_routed_experts: int
    n_shared_experts: int
    num_experts_per_tok: int
    n_group: int
    topk_group: int
    first_k_dense_replace: int
    moe_layer_freq: int
    norm_topk_prob: bool
    routed_scaling_factor: float
    scoring_func: str  # "softmax" (V2) or "sigmoid" (V3)
    topk_method: str  # "greedy" | "group_limited_greedy" | "noaux_tc"
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict[str, Any] | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]
    num_nextn_predict_layers: int = 0
    quantization: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def latent_dim(self) -> int:
        """Values cached per token per layer: the kv latent plus the shared rope key."""
        return self.kv_lora_rank + self.qk_rope_head_dim

    @property
    def uses_group_limited_routing(self) -> bool:
        """Experts chosen within the top groups first (V3 `noaux_tc`, V2 `group_limited_greedy`)."""
        return self.n_group > 1 and self.topk_method in ("noaux_tc", "group_limited_greedy")

    @property
    def uses_correction_bias(self) -> bool:
        return self.topk_method == "noaux_tc"

    def is_moe_layer(self, layer_idx: int) -> bool:
        return (
            self.n_routed_experts > 0
            and layer_idx >= self.first_k_dense_replace
            and layer_idx % self.moe_layer_freq == 0
        )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        model_type = raw.get("model_type", "")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"config.json model_type={model_type!r} is not supported; valid: {SUPPORTED_MODEL_TYPES}"
            )
        is_v3 = model_type != "deepseek_v2"
        rope_scaling = raw.get("rope_scaling") or raw.get("rope_parameters")
        if rope_scaling is not None and rope_scaling.get("rope_type", rope_scaling.get("type")) in (None, "default"):
            rope_scaling = None
        rope_theta = raw.get("rope_theta")
        if rope_theta is None and isinstance(raw.get("rope_parameters"), dict):
            rope_theta = raw["rope_parameters"].get("rope_theta")
        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else (() if eos is None else (int(eos),))
        default_topk_method = "noaux_tc" if is_v3 else "greedy"
        topk_method = raw.get("topk_method", default_topk_method)
        n_routed = raw.get("n_routed_experts") or 0
        cfg = cls(
            model_type=model_type,
            vocab_size=raw["vocab_size"],
            hidden_size=raw["hidden_size"],
            intermediate_size=raw["intermediate_size"],
            moe_intermediate_size=raw.get("moe_intermediate_size", raw["intermediate_size"]),
            num_hidden_layers=raw["num_hidden_layers"],
            num_attention_heads=raw["num_attention_heads"],
            q_lora_rank=raw.get("q_lora_rank"),
            kv_lora_rank=raw["kv_lora_rank"],
            qk_nope_head_dim=raw["qk_nope_head_dim"],
            qk_rope_head_dim=raw["qk_rope_head_dim"],
            v_head_dim=raw["v_head_dim"],
            n_routed_experts=n_routed,
            n_shared_experts=raw.get("n_shared_experts") or 0,
            num_experts_per_tok=raw.get("num_experts_per_tok") or 0,
            n_group=raw.get("n_group") or 1,
            topk_group=raw.get("topk_group") or 1,
            first_k_dense_replace=raw.get("first_k_dense_replace", 0),
            moe_layer_freq=raw.get("moe_layer_freq", 1),
            norm_topk_prob=bool(raw.get("norm_topk_prob", is_v3)),
            routed_scaling_factor=float(raw.get("routed_scaling_factor", 1.0)),
            scoring_func=raw.get("scoring_func", "sigmoid" if is_v3 else "softmax"),
            topk_method=topk_method,
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            rope_theta=float(rope_theta if rope_theta is not None else 10000.0),
            rope_scaling=rope_scaling,
            max_position_embeddings=raw.get("max_position_embeddings", 4096),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            bos_token_id=raw.get("bos_token_id"),
            eos_token_ids=eos_ids,
            num_nextn_predict_layers=raw.get("num_nextn_predict_layers", 0) or 0,
            quantization=raw.get("quantization_config"),
        )
        if cfg.scoring_func not in ("softmax", "sigmoid"):
            raise ValueError(f"scoring_func={cfg.scoring_func!r}; valid: ('softmax', 'sigmoid')")
        if cfg.n_routed_experts % cfg.n_group:
            raise ValueError(f"n_routed_experts={cfg.n_routed_experts} is not divisible by n_group={cfg.n_group}")
        return cfg

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> ModelConfig:
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json in model directory {model_dir}")
        return cls.from_dict(json.loads(path.read_text()))


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the serving engine; every value is checked here so a bad one fails at start-up."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    block_size: int = 16
    num_kv_blocks: int | None = None  # None: sized from free memory
    gpu_memory_utilization: float = 0.90
    cpu_kv_cache_bytes: int = 256 * 2**20
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    use_cuda_graphs: bool = True
    max_graph_batch_size: int = 256
    compile_decode: bool = True  # CUDA only: torch.compile the decoder layer for decode steps
    compile_prefill: bool = True  # CUDA only (with compile_decode): compile the parts around prefill attention
    experts_backend: str | None = None  # CUDA bf16 only: "auto" | "triton" | "grouped_mm"; None = auto
    fuse_kernels: bool = True  # CUDA bf16/fp16: fused input projections and the Triton router
    varlen_prefill: bool = True  # CUDA bf16/fp16: one FlashAttention call per layer for a prefill step
    decode_steps: int = 8  # decode steps run back to back (tokens stay on the device) when nobody waits

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "max_num_batched_tokens", "block_size", "max_graph_batch_size", "decode_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"EngineConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(f"EngineConfig.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.experts_backend not in (None, "auto", "triton", "grouped_mm", "torch"):
            raise ValueError(
                f"EngineConfig.experts_backend={self.experts_backend!r}; valid: auto, triton, grouped_mm, torch"
            )
        if self.num_kv_blocks is not None and self.num_kv_blocks < 1:
            raise ValueError(f"EngineConfig.num_kv_blocks must be >= 1, got {self.num_kv_blocks}")
