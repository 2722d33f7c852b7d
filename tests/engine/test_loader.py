"""The checkpoint loader: sharded safetensors with an index, FP8 128x128 block weights, MTP layers skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from moesaic.engine.config import ModelConfig
from moesaic.engine.loader import create_model, dequantize_fp8, load_weights


def test_dequantize_fp8_applies_each_block_scale():
    weight = torch.randn(200, 300).to(torch.float8_e4m3fn)
    scale_inv = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = dequantize_fp8(weight, scale_inv)
    assert out.shape == (200, 300)
    assert torch.equal(out[:128, :128], weight[:128, :128].float())
    assert torch.equal(out[128:, 256:], weight[128:, 256:].float() * 6.0)
    assert torch.equal(out[5, 130], weight[5, 130].float() * 2.0)


def quantize_fp8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = -(-w.shape[0] // 128), -(-w.shape[1] // 128)
    scale = torch.empty(rows, cols)
    q = torch.empty_like(w, dtype=torch.float8_e4m3fn)
    for i in range(rows):
        for j in range(cols):
            block = w[i * 128 : (i + 1) * 128, j * 128 : (j + 1) * 128]
            scale[i, j] = block.abs().max().clamp_min(1e-12) / 448.0
            q[i * 128 : (i + 1) * 128, j * 128 : (j + 1) * 128] = (block / scale[i, j]).to(torch.float8_e4m3fn)
    return q, scale


def test_sharded_fp8_checkpoint_with_mtp_layer_loads(checkpoints, tmp_path: Path):
    source = checkpoints["v3"]
    tensors = load_file(str(source / "model.safetensors"))
    cfg = ModelConfig.from_dir(source)
    expected: dict[str, torch.Tensor] = {}
    for name in [n for n in tensors if n.endswith(("q_b_proj.weight", "kv_b_proj.weight", "o_proj.weight"))]:
        q, scale = quantize_fp8(tensors[name])
        tensors[name], tensors[name + "_scale_inv"] = q, scale
        expected[name] = dequantize_fp8(q, scale)
    mtp = f"model.layers.{cfg.num_hidden_layers}"
    tensors[f"{mtp}.eh_proj.weight"] = torch.randn(4, 4)  # an MTP layer: must be ignored
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in shards.items():
        save_file({k: tensors[k].contiguous() for k in keys}, str(tmp_path / shard))
    index = {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text((source / "config.json").read_text())

    model = create_model(cfg, torch.device("cpu"), torch.float32, 64)
    load_weights(model, tmp_path)
    params = dict(model.named_parameters())
    assert len(expected) == 3 * cfg.num_hidden_layers
    for name, value in expected.items():
        assert torch.equal(params[name], value), name
    layer = cfg.first_k_dense_replace
    w13 = params[f"model.layers.{layer}.mlp.experts.w13"]
    gate = tensors[f"model.layers.{layer}.mlp.experts.3.gate_proj.weight"]
    up = tensors[f"model.layers.{layer}.mlp.experts.3.up_proj.weight"]
    assert torch.equal(w13[3], torch.cat([gate, up]))


def test_missing_tensor_is_reported(checkpoints, tmp_path: Path):
    tensors = load_file(str(checkpoints["moonlight"] / "model.safetensors"))
    del tensors["model.norm.weight"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text((checkpoints["moonlight"] / "config.json").read_text())
    cfg = ModelConfig.from_dir(tmp_path)
    with pytest.raises(ValueError, match="model.norm.weight"):
        load_weights(create_model(cfg, torch.device("cpu"), torch.float32, 64), tmp_path)


def test_unsupported_model_type_names_the_valid_ones():
    with pytest.raises(ValueError, match="deepseek_v3"):
        ModelConfig.from_dict({"model_type": "llama"})
