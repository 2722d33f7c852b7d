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


def test_split_merge_and_up_projection_in_one_launch() -> None:
    from moesaic.engine.kernels.mla_decode import merge_and_up_project, merge_splits

    for batch, splits in ((1, 16), (7, 3), (64, 1)):
        partial = torch.randn(batch, 16, splits, 512, device="cuda")
        lse = torch.randn(batch, 16, splits, device="cuda") * 3
        w_uv = torch.randn(16, 128, 512, device="cuda", dtype=torch.bfloat16) * 0.05
        ref = torch.einsum("bhr,hvr->bhv", merge_splits(partial, lse), w_uv.float())
        out = merge_and_up_project(partial, lse, w_uv, torch.bfloat16)
        assert out.dtype == torch.bfloat16 and rel(out, ref) < 1e-2


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
    gpu16 = LLM(checkpoints["v3"], device="cuda", dtype="bfloat16", num_kv_blocks=256, max_num_seqs=64)
    assert gpu16.runner.graphs, "bf16 on CUDA captures decode graphs"
    out16 = [o.token_ids for o in gpu16.generate(prompts, params)]
    agree = sum(a == b for x, y in zip(out16, cpu) for a, b in zip(x, y))
    assert agree >= 0.3 * sum(len(x) for x in cpu)  # bf16 drifts; the logits test below is the precise one


def _teacher_forced_logits(llm: LLM, tokens: list[int], prompt_len: int, monkeypatch) -> torch.Tensor:
    """Logits for every position from prompt_len - 1 on, feeding the given tokens instead of sampled ones."""
    import moesaic.engine.runner as runner_module

    captured: list[torch.Tensor] = []

    def capture(logits: torch.Tensor, seqs: list) -> list[int]:
        captured.append(logits.float().cpu())
        return [0] * len(seqs)

    monkeypatch.setattr(runner_module, "sample", capture)
    seq = llm.add_request(tokens[:prompt_len], SamplingParams(temperature=0.0, max_tokens=len(tokens) - prompt_len + 1,
                                                              ignore_eos=True))
    position = prompt_len
    while not seq.is_finished:
        llm.step()
        if position < len(tokens) and not seq.is_finished:
            seq.token_ids[-1] = tokens[position]  # teacher forcing
        position += 1
    return torch.cat(captured)


@pytest.mark.parametrize("variant", ["v3", "moonlight"])
def test_bf16_fast_paths_follow_fp32_logits(variant, checkpoints, monkeypatch) -> None:
    """Fused projections, folded shared experts, the Triton router, varlen prefill, graph decode: at every
    position of a teacher-forced sequence, as close to the fp32 CPU logits as plain bf16 eager math is."""
    tokens = list(range(3, 43)) + [7, 9, 11, 200, 31, 5] * 5
    ref = _teacher_forced_logits(LLM(checkpoints[variant], device="cpu", dtype="float32", decode_steps=1), tokens,
                                 40, monkeypatch)
    plain = LLM(checkpoints[variant], device="cuda", dtype="bfloat16", num_kv_blocks=128, max_num_seqs=16,
                decode_steps=1, fuse_kernels=False, varlen_prefill=False, use_cuda_graphs=False, compile_decode=False,
                experts_backend="torch")
    plain.runner.model.set_backends("torch", "torch")  # reference attention and experts, in bf16 on the GPU
    base = _teacher_forced_logits(plain, tokens, 40, monkeypatch)
    fast = LLM(checkpoints[variant], device="cuda", dtype="bfloat16", num_kv_blocks=128, max_num_seqs=16,
               decode_steps=1)
    assert fast.runner.varlen_prefill and fast.runner.graphs
    moe = next(m for m in fast.runner.model.modules() if type(m).__name__ == "DeepseekMoE")
    assert moe.experts.w13_all is not None  # shared experts folded in
    got = _teacher_forced_logits(fast, tokens, 40, monkeypatch)
    assert got.shape == ref.shape == base.shape == (len(tokens) - 39, ref.shape[1])
    row_err = [(rel(g, r), rel(b, r)) for g, b, r in zip(got, base, ref)]
    print(variant, "prefill row (fast, plain bf16):", row_err[0], "decode rows max:",
          max(e[0] for e in row_err[1:]), max(e[1] for e in row_err[1:]))
    assert rel(got, ref) < 1.5 * rel(base, ref) + 1e-2
    agree = (got.argmax(-1) == ref.argmax(-1)).float().mean()
    assert agree >= (base.argmax(-1) == ref.argmax(-1)).float().mean() - 0.1


def test_triton_fused_experts_match_reference() -> None:
    from moesaic.engine.kernels.moe_torch import torch_experts
    from moesaic.engine.kernels import fused_experts

    for tokens in (1, 5, 9, 200, 2000, 2100):  # direct rows, aligned by the kernel, aligned by torch
        x = torch.randn(tokens, 256, device="cuda", dtype=torch.bfloat16)
        w13 = torch.randn(16, 2 * 96, 256, device="cuda", dtype=torch.bfloat16) * 0.05
        w2 = torch.randn(16, 256, 96, device="cuda", dtype=torch.bfloat16) * 0.05
        ids = torch.stack([torch.randperm(16, device="cuda")[:4] for _ in range(tokens)])
        w = torch.rand(tokens, 4, device="cuda")
        ref = torch_experts(x.float(), w13.float(), w2.float(), w, ids)
        assert rel(fused_experts("triton", x, w13, w2, w, ids), ref) < 1e-2


def test_varlen_prefill_matches_per_sequence_loop() -> None:
    from moesaic.engine.attention import (
        AttentionContext,
        VarlenBatch,
        mla_prefill_attention,
        mla_prefill_attention_varlen,
    )

    heads, nope, rope, v_dim, rank, page = 16, 128, 64, 128, 512, 16
    cache = torch.randn(64, page, rank + rope, device="cuda", dtype=torch.bfloat16)
    kv_b = torch.randn(heads * (nope + v_dim), rank, device="cuda", dtype=torch.bfloat16) * 0.05
    # all fresh; then a mix of fresh and cached prefixes (bottom-right causal alignment)
    for query_lens, context_lens in (([5, 37, 16], [5, 37, 16]), ([5, 37, 16], [5, 100, 49])):
        tables = torch.randperm(64, device="cuda")[:24].view(3, 8).int()
        slots = torch.cat([
            tables[i, torch.arange(c - q, c, device="cuda") // page].long() * page + torch.arange(c - q, c, device="cuda") % page
            for i, (q, c) in enumerate(zip(query_lens, context_lens))
        ])
        tokens = sum(query_lens)
        q_nope = torch.randn(tokens, heads, nope, device="cuda", dtype=torch.bfloat16)
        q_pe = torch.randn(tokens, heads, rope, device="cuda", dtype=torch.bfloat16)
        latents = cache.view(-1, rank + rope)[slots]
        ctx = AttentionContext(True, slots, torch.tensor(context_lens, device="cuda", dtype=torch.int32), tables,
                               query_lens, context_lens)
        ref = mla_prefill_attention(q_nope.float(), q_pe.float(), cache.float(), kv_b.float(), ctx, 0.07, v_dim)
        batch = VarlenBatch.build(query_lens, context_lens, tables, page)
        assert (batch.context_slots is None) == (query_lens == context_lens)
        got = mla_prefill_attention_varlen(q_nope, q_pe, latents, cache, kv_b, batch, 0.07, v_dim)
        assert rel(got, ref) < 2e-2


def test_expert_alignment_kernel_matches_torch_sort() -> None:
    from moesaic.engine.kernels.moe_triton import _align_torch, align_by_expert

    for tokens, experts, k, block_m in ((1, 64, 6, 16), (128, 64, 6, 16), (700, 256, 8, 64), (37, 16, 4, 16)):
        ids = torch.stack([torch.randperm(experts, device="cuda")[:k] for _ in range(tokens)]).reshape(-1)
        got_ids, got_blocks = align_by_expert(ids, experts, block_m)
        ref_ids, ref_blocks = _align_torch(ids, experts, block_m, got_ids.numel())
        assert torch.equal(got_blocks, ref_blocks)
        for expert in got_blocks.unique().tolist():  # same assignments per expert (order inside may differ)
            rows = (got_blocks == expert).repeat_interleave(block_m)
            assert sorted(got_ids[rows].tolist()) == sorted(ref_ids[rows].tolist())


def test_triton_router_matches_torch_router() -> None:
    from moesaic.engine.config import ModelConfig
    from moesaic.engine.model import Router

    for scoring, bias, renorm in (("sigmoid", True, True), ("softmax", False, False)):
        cfg = ModelConfig.from_dict({
            "model_type": "deepseek_v3" if bias else "deepseek_v2", "vocab_size": 64, "hidden_size": 512,
            "intermediate_size": 64, "moe_intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16,
            "n_routed_experts": 64, "num_experts_per_tok": 6, "n_group": 1, "topk_group": 1,
            "scoring_func": scoring, "norm_topk_prob": renorm, "routed_scaling_factor": 2.5,
            "topk_method": "noaux_tc" if bias else "greedy",
        })
        router = Router(cfg).cuda()
        with torch.no_grad():
            router.weight.normal_(0, 0.2)
            if bias:
                router.e_score_correction_bias.uniform_(-0.1, 0.1)
        # 37 tokens: cuBLAS logits + selection kernel; 1, 3 and 16 (twice in a row, so the arrival counters
        # must have been reset): logits and selection in one launch
        arrivals = torch.zeros(16, dtype=torch.int32, device="cuda")
        for tokens, fused in ((37, False), (1, True), (3, True), (16, True), (16, True), (1, True)):
            x = torch.randn(tokens, 512, device="cuda", dtype=torch.bfloat16)
            for shared in ([], [64, 65]):  # folded shared experts come last with weight 1
                router.shared_ids = torch.tensor(shared, device="cuda", dtype=torch.int64)
                router.use_kernel, router.arrivals = False, None
                ref_w, ref_ids = router(x, True)
                router.use_kernel = True
                router.arrivals = arrivals if fused else None
                got_w, got_ids = router(x, True)
                assert got_ids.shape == (tokens, 6 + len(shared))
                assert torch.equal(got_ids.sort(-1).values, ref_ids.sort(-1).values)
                order_ref, order_got = ref_ids.argsort(-1), got_ids.argsort(-1)
                assert rel(got_w.gather(1, order_got), ref_w.gather(1, order_ref)) < 1e-4
                assert not arrivals.any()  # counters are left at zero for the next launch


def test_decode_prologue_matches_project_and_cache_write() -> None:
    from moesaic.engine.attention import write_latents
    from moesaic.engine.config import ModelConfig
    from moesaic.engine.kernels import decode_prologue
    from moesaic.engine.model import MultiHeadLatentAttention, RotaryEmbedding

    torch.manual_seed(0)
    for q_lora, heads in ((None, 3), (48, 4)):  # Moonlight / V2-Lite style and V3 style; 3 heads pads to 4
        cfg = ModelConfig.from_dict({
            "model_type": "deepseek_v3", "vocab_size": 64, "hidden_size": 256, "intermediate_size": 64,
            "moe_intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": heads,
            "q_lora_rank": q_lora, "kv_lora_rank": 256, "qk_nope_head_dim": 32, "qk_rope_head_dim": 64,
            "v_head_dim": 32, "n_routed_experts": 8, "num_experts_per_tok": 2,
            "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512,
                             "mscale": 1.0, "mscale_all_dim": 0.707, "beta_fast": 32, "beta_slow": 1},
        })
        attn = MultiHeadLatentAttention(cfg, RotaryEmbedding(cfg, 4096)).cuda().to(torch.bfloat16)
        attn.rope.cos, attn.rope.sin = attn.rope.cos.float(), attn.rope.sin.float()
        with torch.no_grad():
            for p in attn.parameters():
                p.normal_(0, 0.05)
            attn.kv_a_layernorm.weight.uniform_(0.5, 1.5)
        attn.fuse_input_projections()
        tokens = 7
        x = torch.randn(tokens, 256, device="cuda", dtype=torch.bfloat16)
        positions = torch.randint(0, 4096, (tokens,), device="cuda")
        slots = torch.randperm(64, device="cuda")[:tokens]
        poison = torch.randn(16, 4, 256 + 64, device="cuda", dtype=torch.bfloat16)  # [N, block, r + rope]
        w_uk, _ = attn.absorbed_weights()
        for absorb in (False, True):
            ref_cache, got_cache = poison.clone(), poison.clone()
            with torch.no_grad():
                q_nope, ref_pe, latents = attn.project(x, positions)
                write_latents(ref_cache, latents, slots)
                ref_lat = torch.einsum("thn,hnr->thr", q_nope, w_uk)
                q, kv = attn.project_inputs(x)
                got_lat, got_pe = decode_prologue(
                    q, kv, positions, attn.rope.cos, attn.rope.sin, attn.kv_a_layernorm.weight,
                    attn.kv_a_layernorm.eps, got_cache, slots, w_uk if absorb else None,
                )
            assert got_pe.shape == ref_pe.shape
            assert torch.equal(q[..., :32], q_nope)
            assert rel(got_pe, ref_pe) < 5e-3
            if absorb:
                assert got_lat is not None and rel(got_lat, ref_lat) < 5e-3
            else:
                assert got_lat is None
            written = torch.zeros(64, dtype=torch.bool, device="cuda")
            written[slots] = True
            flat_ref, flat_got = ref_cache.view(64, -1), got_cache.view(64, -1)
            assert torch.equal(flat_got[~written], poison.view(64, -1)[~written])  # nothing else touched
            assert rel(flat_got[written], flat_ref[written]) < 5e-3
