"""Benchmark: the Moesaic engine against transformers `generate` on one GPU, same random bf16 weights.

Moonlight-16B-A3B shape (deepseek_v3, 27 layers, 64 routed experts top-6, 2 shared, kv_lora 512). Our
engine builds random weights on the GPU; the transformers model is built on the meta device and handed the
very same tensors (its fused expert layout equals ours), so both run in one process on one copy.

    PYTHONPATH=platform python3 bench/engine_vs_hf.py --out $OUT

Checks first (kernels against torch references, our logits against transformers), then times; prints a
table last and writes JSON under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import torch

MOONLIGHT = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "vocab_size": 163840,
    "hidden_size": 2048,
    "intermediate_size": 11264,
    "moe_intermediate_size": 1408,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "q_lora_rank": None,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "n_routed_experts": 64,
    "n_shared_experts": 2,
    "num_experts_per_tok": 6,
    "n_group": 1,
    "topk_group": 1,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "norm_topk_prob": True,
    "routed_scaling_factor": 2.446,
    "scoring_func": "sigmoid",
    "topk_method": "noaux_tc",
    "rms_norm_eps": 1e-5,
    "rope_theta": 50000.0,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": False,
    "bos_token_id": 163584,
    "eos_token_id": 163585,
    "hidden_act": "silu",
    "num_nextn_predict_layers": 0,
}
HBM_BYTES_PER_S = 3.0e12  # device-to-device copy measured on these H100s (read + write)
GEMM_FLOP_PER_S = 7.98e14  # 8192^3 bf16 matmul measured on these H100s


def sync() -> None:
    torch.cuda.synchronize()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def check_kernels() -> dict[str, float]:
    from moesaic.engine.attention import mla_decode_attention_torch
    from moesaic.engine.kernels.mla_decode import merge_splits, triton_mla_decode
    from moesaic.engine.kernels.moe_grouped_mm import grouped_mm_experts
    from moesaic.engine.kernels.moe_torch import torch_experts

    out: dict[str, float] = {}
    dev = "cuda"
    for batch, lens in ((1, [4100]), (5, [1, 17, 300, 33, 1024]), (64, [random.randint(1, 900) for _ in range(64)])):
        page, r, p, h = 16, 512, 64, 16
        nblk = 4096
        cache = torch.randn(nblk, page, r + p, device=dev, dtype=torch.bfloat16)
        width = max((n + page - 1) // page for n in lens)
        perm = torch.randperm(nblk, device=dev)[: batch * width].view(batch, width).to(torch.int32)
        ctx = torch.tensor(lens, dtype=torch.int32, device=dev)
        q = torch.randn(batch, h, r, device=dev, dtype=torch.bfloat16)
        qpe = torch.randn(batch, h, p, device=dev, dtype=torch.bfloat16)
        ref = mla_decode_attention_torch(q.float(), qpe.float(), cache.float(), perm, ctx, 0.07)
        got = merge_splits(*triton_mla_decode(q, qpe, cache, perm, ctx, 0.07))
        out[f"mla_decode_b{batch}"] = rel_err(got, ref)
    for tokens in (1, 7, 300):
        e, d, i, k = 64, 2048, 1408, 6
        x = torch.randn(tokens, d, device=dev, dtype=torch.bfloat16)
        w13 = torch.randn(e, 2 * i, d, device=dev, dtype=torch.bfloat16) * 0.02
        w2 = torch.randn(e, d, i, device=dev, dtype=torch.bfloat16) * 0.02
        ids = torch.stack([torch.randperm(e, device=dev)[:k] for _ in range(tokens)])
        wts = torch.rand(tokens, k, device=dev)
        ref = torch_experts(x.float(), w13.float(), w2.float(), wts, ids)
        out[f"grouped_mm_T{tokens}"] = rel_err(grouped_mm_experts(x, w13, w2, wts, ids), ref)
    return out


def build_hf(llm) -> torch.nn.Module:  # type: ignore[no-untyped-def]
    """transformers' DeepseekV3ForCausalLM over our tensors (no copy)."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3RotaryEmbedding

    cfg = DeepseekV3Config(**{k: v for k, v in MOONLIGHT.items() if k != "architectures"})
    cfg.num_hidden_layers = llm.model_config.num_hidden_layers
    with torch.device("meta"):
        hf = DeepseekV3ForCausalLM(cfg)
    ours = llm.runner.model
    sd: dict[str, torch.Tensor] = {}
    for name, t in list(ours.named_parameters()) + list(ours.named_buffers()):
        if name.endswith(("rotary.cos", "rotary.sin")) or ".rope." in name:
            continue
        if name.endswith("gate_up_proj.weight"):
            half = t.shape[0] // 2
            base = name.removesuffix("gate_up_proj.weight")
            sd[base + "gate_proj.weight"], sd[base + "up_proj.weight"] = t[:half], t[half:]
        elif name.endswith("experts.w13"):
            sd[name.replace("experts.w13", "experts.gate_up_proj")] = t
        elif name.endswith("experts.w2"):
            sd[name.replace("experts.w2", "experts.down_proj")] = t
        else:
            sd[name] = t
    missing, unexpected = hf.load_state_dict(sd, strict=False, assign=True)
    assert not unexpected, f"unexpected {unexpected[:5]}"
    missing = [m for m in missing if "rotary" not in m]
    assert not missing, f"missing {missing[:5]}"
    hf.model.rotary_emb = DeepseekV3RotaryEmbedding(cfg).to("cuda")
    try:
        hf.set_experts_implementation("grouped_mm")
    except Exception as exc:  # older transformers
        print("transformers experts implementation not settable:", exc)
    return hf.eval()


def hf_generate_tps(hf, batch: int, prompt_len: int, new: int) -> float:  # type: ignore[no-untyped-def]
    ids = torch.randint(0, 150000, (batch, prompt_len), device="cuda")
    kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, attention_mask=torch.ones_like(ids))
    with torch.inference_mode():
        hf.generate(ids[:, :16], max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm up
        sync()
        t = time.perf_counter()
        hf.generate(ids, **kw)
        sync()
    return batch * new / (time.perf_counter() - t)


def ours_generate(llm, prompts: list[list[int]], outs: list[int]) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    from moesaic.engine import SamplingParams

    params = [SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True) for n in outs]
    sync()
    t = time.perf_counter()
    res = llm.generate(prompts, params)
    sync()
    dt = time.perf_counter() - t
    n_out = sum(len(r.token_ids) for r in res)
    return dt, n_out, sum(len(p) for p in prompts)


def rand_prompt(n: int) -> list[int]:
    return torch.randint(0, 150000, (n,)).tolist()


def active_bytes_per_token(cfg) -> float:  # type: ignore[no-untyped-def]
    d, h = cfg.hidden_size, cfg.num_attention_heads
    attn = d * h * cfg.qk_head_dim + d * cfg.latent_dim + cfg.kv_lora_rank * h * (cfg.qk_nope_head_dim + cfg.v_head_dim) + h * cfg.v_head_dim * d
    moe_layers = cfg.num_hidden_layers - cfg.first_k_dense_replace
    experts = moe_layers * (cfg.num_experts_per_tok + cfg.n_shared_experts) * 3 * d * cfg.moe_intermediate_size
    dense = cfg.first_k_dense_replace * 3 * d * cfg.intermediate_size
    return 2.0 * (cfg.num_hidden_layers * attn + experts + dense + cfg.vocab_size * d)


def bound_out_tok_s(cfg, batch: int, prompt: int, new: int) -> float:  # type: ignore[no-untyped-def]
    """Output tok/s no implementation can beat for `batch` requests of `prompt` + `new` tokens on this GPU:
    prefill at the measured bf16 GEMM rate, then every decode step reads the weights it needs once (all
    experts hit by the batch) plus the latent cache, at the measured copy bandwidth."""
    d, inter, layers = cfg.hidden_size, cfg.moe_intermediate_size, cfg.num_hidden_layers
    per_expert = 2.0 * 3 * d * inter
    routed_per_token = (cfg.num_hidden_layers - cfg.first_k_dense_replace) * cfg.num_experts_per_tok * per_expert
    base = active_bytes_per_token(cfg) - routed_per_token  # everything but the routed experts
    experts_hit = cfg.n_routed_experts * (1 - (1 - cfg.num_experts_per_tok / cfg.n_routed_experts) ** batch)
    weights = base + (cfg.num_hidden_layers - cfg.first_k_dense_replace) * experts_hit * per_expert
    flop_per_token = active_bytes_per_token(cfg)  # 2 FLOP per parameter, 2 bytes per bf16 parameter
    prefill_s = flop_per_token * batch * prompt / GEMM_FLOP_PER_S
    decode_s = sum((weights + batch * (prompt + j) * cfg.latent_dim * 2 * layers) / HBM_BYTES_PER_S
                   for j in range(new))
    return batch * new / (prefill_s + decode_s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=27)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    args = ap.parse_args()
    random.seed(0)
    torch.manual_seed(0)
    results: dict[str, object] = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                                  "date": time.strftime("%Y-%m-%d"), "layers": args.layers}
    print(results, flush=True)
    results["kernel_rel_err"] = check_kernels()
    print("kernel checks", results["kernel_rel_err"], flush=True)

    from moesaic.engine import LLM, SamplingParams

    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps({**MOONLIGHT, "num_hidden_layers": args.layers}))
    t = time.perf_counter()
    llm = LLM(tmp, device="cuda", dtype="bfloat16", load_format="dummy", gpu_memory_utilization=0.72,
              max_num_seqs=256, max_num_batched_tokens=8192)
    results["startup_s"] = time.perf_counter() - t
    results["kv_blocks"] = llm.runner.num_blocks
    results["backends"] = [llm.runner.attention_backend, llm.runner.experts_backend, sorted(llm.runner.graphs)]
    print("engine up", results["startup_s"], results["backends"], flush=True)
    cfg = llm.model_config

    hf = None if args.skip_hf else build_hf(llm)
    if hf is not None:  # logits against transformers on the same weights (bf16)
        ids = rand_prompt(64)
        with torch.inference_mode():
            ref = hf(torch.tensor([ids], device="cuda")).logits[0, -1].float()
        seq = llm.add_request(ids, SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True))
        batch = llm.scheduler.schedule()
        inp, pos, ctx, rows = llm.runner.prepare(batch)
        with torch.inference_mode():
            ours = llm.runner.model.logits(llm.runner.model(inp, pos, ctx)[rows])[0]
        llm.scheduler.finish_step(batch)
        llm.scheduler.finish(seq, "length")
        results["logits_rel_err_vs_hf"] = rel_err(ours, ref)
        results["argmax_equal"] = bool(ours.argmax() == ref.argmax())
        g_ours = llm.generate([ids], SamplingParams(temperature=0.0, max_tokens=32, ignore_eos=True))[0].token_ids
        with torch.inference_mode():
            g_hf = hf.generate(torch.tensor([ids], device="cuda"), max_new_tokens=32, min_new_tokens=32,
                               do_sample=False)[0, 64:].tolist()
        agree = next((i for i, (a, b) in enumerate(zip(g_ours, g_hf)) if a != b), 32)
        results["greedy_prefix_agreement_of_32"] = agree
        print("vs hf", results["logits_rel_err_vs_hf"], results["argmax_equal"], agree, flush=True)

    # warm-up of the whole path: graph rows, a multi-sequence prefill step (compiles its shapes), decode runs
    ours_generate(llm, [rand_prompt(256)] * 2, [8, 8])
    ours_generate(llm, [rand_prompt(256) for _ in range(32)], [8] * 32)

    rows: list[tuple[str, float, float | None, float | None]] = []
    # batch-1 decode: prompt 256, 128 new
    dt, n_out, _ = ours_generate(llm, [rand_prompt(256)], [128])
    t1 = time.perf_counter()
    ours_generate(llm, [rand_prompt(256)], [1])
    ttft256 = time.perf_counter() - t1
    ours_b1 = n_out / dt
    decode_b1 = 127 / max(dt - ttft256, 1e-9)
    hf_b1 = hf_generate_tps(hf, 1, 256, 128) if hf is not None else None
    rows.append(("batch 1, prompt 256, 128 new (tok/s)", ours_b1, hf_b1, bound_out_tok_s(cfg, 1, 256, 128)))
    bound_b1 = HBM_BYTES_PER_S / active_bytes_per_token(cfg)
    rows.append(("batch 1 decode only (tok/s)", decode_b1, None, bound_b1))
    results["decode_only_b1_tok_s"] = decode_b1
    results["roofline_b1_tok_s"] = bound_b1
    print("b1", ours_b1, decode_b1, hf_b1, flush=True)

    for bs in ((32, 128) if not args.quick else (32,)):
        prompts = [rand_prompt(256) for _ in range(bs)]
        t_prefill, _, _ = ours_generate(llm, [rand_prompt(256) for _ in range(bs)], [1] * bs)  # other prompts: no cache hits
        dt, n_out, _ = ours_generate(llm, prompts, [128] * bs)
        results[f"decode_only_b{bs}_tok_s"] = bs * 127 / max(dt - t_prefill, 1e-9)
        results[f"prefill_b{bs}_s"] = t_prefill
        hf_tps = hf_generate_tps(hf, bs, 256, 128) if (hf is not None and bs == 128) else None
        rows.append((f"{bs} concurrent, prompt 256, 128 new (out tok/s)", n_out / dt, hf_tps,
                     bound_out_tok_s(cfg, bs, 256, 128)))
        print(bs, n_out / dt, hf_tps, "decode-only", results[f"decode_only_b{bs}_tok_s"], "prefill s", t_prefill,
              flush=True)

    # mixed: 256 requests, prompts 100-1024, outputs 100-1024
    n_req = 64 if args.quick else 256
    lens = [(random.randint(100, 1024), random.randint(100, 1024)) for _ in range(n_req)]
    mixed_prompts = [rand_prompt(p) for p, _ in lens]
    dt, n_out, n_in = ours_generate(llm, mixed_prompts, [o for _, o in lens])
    rows.append((f"{n_req} mixed requests: total tok/s (in+out)", (n_in + n_out) / dt, None, None))
    rows.append((f"{n_req} mixed requests: output tok/s", n_out / dt, None, None))
    results["mixed"] = {"seconds": dt, "prompt_tokens": n_in, "output_tokens": n_out,
                        "preemptions": llm.scheduler.num_preemptions}
    print("mixed", results["mixed"], flush=True)

    # TTFT with a cached 4096-token prefix
    def ttft(prompt: list[int]) -> float:
        sync()
        t = time.perf_counter()
        llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True))
        sync()
        return time.perf_counter() - t

    warm_prefix = rand_prompt(4096)  # warm both paths (Triton specialises kernels on first use)
    ttft(warm_prefix + rand_prompt(16))
    ttft(warm_prefix + rand_prompt(16))
    prefix = rand_prompt(4096)
    uncached = ttft(prefix + rand_prompt(16))
    cached = ttft(prefix + rand_prompt(16))
    results["ttft_uncached_ms"], results["ttft_cached_ms"] = uncached * 1e3, cached * 1e3
    rows.append(("TTFT 4096+16 uncached (ms)", uncached * 1e3, None, None))
    rows.append(("TTFT 4096+16, 4096 cached (ms)", cached * 1e3, None, None))
    rows.append(("  cached / uncached", cached / uncached, None, None))

    results["rows"] = rows
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "engine_bench.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(f"{'workload':52s} {'moesaic':>10s} {'transformers':>13s} {'ratio':>7s} {'of bound':>9s}")
    for name, ours_v, hf_v, bound in rows:
        hf_s = f"{hf_v:13.1f}" if hf_v else f"{'-':>13s}"
        ratio = f"{ours_v / hf_v:7.1f}" if hf_v else f"{'-':>7s}"
        frac = f"{ours_v / bound:9.0%}" if bound else f"{'-':>9s}"
        print(f"{name:52s} {ours_v:10.2f} {hf_s} {ratio} {frac}")
    print(f"batch-1 decode-only {decode_b1:.1f} tok/s; roofline {bound_b1:.0f} tok/s at 3.0 TB/s "
          f"-> {decode_b1 / bound_b1:.0%} of bound")


if __name__ == "__main__":
    main()
