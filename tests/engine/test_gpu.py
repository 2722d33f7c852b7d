"""GPU paths (device machine only): Triton MLA decode, grouped_mm experts, CUDA-graph decode."""

from __future__ import annotations

import pytest
import torch

from moesaic.engine import LLM, SamplingParams

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.fail("gpu tests need CUDA; run them on the device machine")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_triton_mla_decode_matches_reference() -> None:
    from moesaic.engine.attention import mla_decode_attention_torch
    from moesaic.engine.kernels.mla_decode import merge_splits, triton_mla_decode

    lens = [1, 15, 16, 17, 600, 2049]
    cache = torch.randn(1024, 16, 576, device="cuda", dtype=torch.bfloat16)
    width = max((n + 15) // 16 for n in lens)
    tables = torch.randperm(1024, device="cuda")[: len(lens) * width].view(len(lens), width).int()
    ctx = torch.tensor(lens, device="cuda", dtype=torch.int32)
    q = torch.randn(len(lens), 16, 512, device="cuda", dtype=torch.bfloat16)
    qpe = torch.randn(len(lens), 16, 64, device="cuda", dtype=torch.bfloat16)
    ref = mla_decode_attention_torch(q.float(), qpe.float(), cache.float(), tables, ctx, 0.05)
    assert rel(merge_splits(*triton_mla_decode(q, qpe, cache, tables, ctx, 0.05)), ref) < 1e-2


def test_grouped_mm_experts_match_reference() -> None:
    from moesaic.engine.kernels.moe_grouped_mm import grouped_mm_experts
    from moesaic.engine.kernels.moe_torch import torch_experts

    x = torch.randn(33, 256, device="cuda", dtype=torch.bfloat16)
    w13 = torch.randn(16, 2 * 128, 256, device="cuda", dtype=torch.bfloat16) * 0.05
    w2 = torch.randn(16, 256, 128, device="cuda", dtype=torch.bfloat16) * 0.05
    ids = torch.stack([torch.randperm(16, device="cuda")[:4] for _ in range(33)])
    w = torch.rand(33, 4, device="cuda")
    ref = torch_experts(x.float(), w13.float(), w2.float(), w, ids)
    assert rel(grouped_mm_experts(x, w13, w2, w, ids), ref) < 1e-2


def test_cuda_engine_matches_cpu_engine(checkpoints) -> None:
    prompts = [[5, 6, 7], list(range(10, 50)), [9] * 17]
    params = SamplingParams(temperature=0.0, max_tokens=24, ignore_eos=True)
    cpu = [o.token_ids for o in LLM(checkpoints["v3"], device="cpu", dtype="float32").generate(prompts, params)]
    gpu32 = LLM(checkpoints["v3"], device="cuda", dtype="float32", num_kv_blocks=256)
    assert [o.token_ids for o in gpu32.generate(prompts, params)] == cpu
    # 64 graph rows: the 60-token prefill below also runs as one graph replay (a row per token)
    gpu16 = LLM(checkpoints["v3"], device="cuda", dtype="bfloat16", num_kv_blocks=256, max_num_seqs=64)
    assert gpu16.runner.graphs, "bf16 on CUDA captures decode graphs"
    out16 = [o.token_ids for o in gpu16.generate(prompts, params)]
    agree = sum(a == b for x, y in zip(out16, cpu) for a, b in zip(x, y))
    assert agree >= 0.5 * sum(len(x) for x in cpu)  # bf16 may drift late in the sequence


def test_triton_fused_experts_match_reference() -> None:
    from moesaic.engine.kernels.moe_torch import torch_experts
    from moesaic.engine.kernels.moe_triton import triton_fused_experts

    for tokens in (1, 5, 200):
        x = torch.randn(tokens, 256, device="cuda", dtype=torch.bfloat16)
        w13 = torch.randn(16, 2 * 96, 256, device="cuda", dtype=torch.bfloat16) * 0.05
        w2 = torch.randn(16, 256, 96, device="cuda", dtype=torch.bfloat16) * 0.05
        ids = torch.stack([torch.randperm(16, device="cuda")[:4] for _ in range(tokens)])
        w = torch.rand(tokens, 4, device="cuda")
        ref = torch_experts(x.float(), w13.float(), w2.float(), w, ids)
        assert rel(triton_fused_experts(x, w13, w2, w, ids), ref) < 1e-2
