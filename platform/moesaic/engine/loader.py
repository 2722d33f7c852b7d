"""Load Hugging Face DeepSeek checkpoints (safetensors, single file or sharded with an index) into the model.

Maps HF names onto ours: per-expert `mlp.experts.{e}.{gate,up,down}_proj.weight` (and transformers v5's
fused `mlp.experts.gate_up_proj` / `down_proj`) into `experts.w13` / `experts.w2`; dense and shared
`gate_proj` / `up_proj` into `gate_up_proj`. FP8 weights with 128x128 `weight_scale_inv` blocks are
dequantised at load. MTP layers (index >= num_hidden_layers) are skipped. It does not download anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from moesaic.engine.config import ModelConfig
from moesaic.engine.model import DeepseekForCausalLM, Router

_LAYER = re.compile(r"^model\.layers\.(\d+)\.")
_EXPERT = re.compile(r"^(model\.layers\.\d+\.mlp)\.experts\.(\d+)\.(gate|up|down)_proj\.weight$")
_FUSED_MLP = re.compile(r"^(.*)\.(gate|up)_proj\.weight$")
FP8_BLOCK = 128


def checkpoint_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        return [model_dir / name for name in sorted(set(weight_map.values()))]
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors files in {model_dir}")
    return files


def dequantize_fp8(weight: torch.Tensor, scale_inv: torch.Tensor, block: int = FP8_BLOCK) -> torch.Tensor:
    """weight [R, C] fp8 * scale_inv [ceil(R/128), ceil(C/128)] -> float32 [R, C]."""
    rows, cols = weight.shape
    scale = scale_inv.float().repeat_interleave(block, 0)[:rows].repeat_interleave(block, 1)[:, :cols]
    return weight.float() * scale


class CheckpointReader:
    """Iterates (name, tensor) over all shards, with FP8 weights already dequantised."""

    def __init__(self, model_dir: Path) -> None:
        self.files = checkpoint_files(model_dir)
        self.location: dict[str, Path] = {}
        for path in self.files:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    self.location[key] = path

    def _get(self, key: str) -> torch.Tensor:
        with safe_open(str(self.location[key]), framework="pt", device="cpu") as f:
            return f.get_tensor(key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        for path in self.files:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    if key.endswith("_scale_inv"):
                        continue
                    tensor = f.get_tensor(key)
                    if tensor.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
                        scale_key = key + "_scale_inv"
                        if scale_key not in self.location:
                            raise ValueError(f"FP8 tensor {key} has no {scale_key} in the checkpoint")
                        tensor = dequantize_fp8(tensor, self._get(scale_key))
                    yield key, tensor


def load_weights(model: DeepseekForCausalLM, model_dir: str | Path) -> None:
    """Copy every checkpoint tensor into its parameter; fail if a parameter was never written."""
    cfg: ModelConfig = model.config
    params: dict[str, torch.Tensor] = dict(model.named_parameters())
    params.update({k: v for k, v in model.named_buffers() if k.endswith("e_score_correction_bias")})
    written: set[str] = set()

    def copy(name: str, tensor: torch.Tensor, index: tuple | None = None) -> None:  # type: ignore[type-arg]
        if name not in params:
            raise KeyError(f"checkpoint tensor maps to unknown parameter {name}")
        target = params[name].data if index is None else params[name].data[index]
        if target.shape != tensor.shape:
            raise ValueError(f"{name}{index or ''}: checkpoint shape {tuple(tensor.shape)} != {tuple(target.shape)}")
        target.copy_(tensor.to(target.dtype))
        written.add(name)

    moe_i = cfg.moe_intermediate_size
    for key, tensor in CheckpointReader(Path(model_dir)):
        layer = _LAYER.match(key)
        if layer and int(layer.group(1)) >= cfg.num_hidden_layers:
            continue  # MTP layers
        if "rotary_emb" in key:
            continue
        if key == "lm_head.weight" or key.startswith("model."):
            pass
        else:
            raise KeyError(f"unexpected checkpoint tensor {key}")
        expert = _EXPERT.match(key)
        if expert:
            prefix, e, kind = expert.group(1), int(expert.group(2)), expert.group(3)
            if kind == "gate":
                copy(f"{prefix}.experts.w13", tensor, (e, slice(0, moe_i)))
            elif kind == "up":
                copy(f"{prefix}.experts.w13", tensor, (e, slice(moe_i, 2 * moe_i)))
            else:
                copy(f"{prefix}.experts.w2", tensor, (e,))
            continue
        if key.endswith("mlp.experts.gate_up_proj"):
            copy(key.replace("experts.gate_up_proj", "experts.w13"), tensor)
            continue
        if key.endswith("mlp.experts.down_proj"):
            copy(key.replace("experts.down_proj", "experts.w2"), tensor)
            continue
        fused = _FUSED_MLP.match(key)
        if fused:
            name = f"{fused.group(1)}.gate_up_proj.weight"
            half = params[name].shape[0] // 2
            rows = slice(0, half) if fused.group(2) == "gate" else slice(half, 2 * half)
            copy(name, tensor, (rows,))
            continue
        copy(key, tensor)

    if cfg.tie_word_embeddings and "lm_head.weight" not in written:
        model.lm_head.weight = model.model.embed_tokens.weight
        written.add("lm_head.weight")
    for attn in model.mla_layers():
        attn._w_uk = attn._w_uv = None  # absorbed copies are rebuilt from the new weights
    for module in model.modules():
        if isinstance(module, Router):
            module._weight_fp32 = None
    missing = [n for n, _ in model.named_parameters() if n not in written]
    if missing:
        raise ValueError(f"checkpoint in {model_dir} lacks {len(missing)} parameters, e.g. {missing[:5]}")


def create_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype, max_positions: int) -> DeepseekForCausalLM:
    """Allocate the model on `device` in `dtype` without a host copy (weights uninitialised)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = DeepseekForCausalLM(cfg, max_positions)
    finally:
        torch.set_default_dtype(previous)
    model = model.to_empty(device=device)
    # Buffers are computed, not loaded: rebuild them on the real device.
    from moesaic.engine.model import RotaryEmbedding

    rotary = RotaryEmbedding(cfg, max_positions).to(device)
    model.model.rotary.cos, model.model.rotary.sin = rotary.cos, rotary.sin
    for module in model.modules():
        if getattr(module, "e_score_correction_bias", None) is not None:
            module.e_score_correction_bias = torch.zeros(  # type: ignore[assignment]
                cfg.n_routed_experts, dtype=torch.float32, device=device
            )
    return model


def init_random_weights(model: nn.Module, std: float = 0.02, seed: int = 0) -> None:
    """Random weights for benchmarks (norms at 1)."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, std, generator=gen)
