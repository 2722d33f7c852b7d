"""Where decode time goes: expert-kernel comparison (Triton fused vs grouped_mm) at Moonlight shapes, and a
torch.profiler kernel table for one eager decode step at batch 1 and 128 of the 27-layer model.

    PYTHONPATH=platform python3 bench/engine_profile.py --out $OUT
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from triton.testing import do_bench

from engine_vs_hf import MOONLIGHT, rand_prompt, rel_err


def expert_kernels() -> list[tuple[int, float, float, float]]:
    from moesaic.engine.kernels.moe_grouped_mm import grouped_mm_experts
    from moesaic.engine.kernels.moe_torch import torch_experts
    from moesaic.engine.kernels.moe_triton import triton_fused_experts

    e, d, i, k = 64, 2048, 1408, 6
    w13 = torch.randn(e, 2 * i, d, device="cuda", dtype=torch.bfloat16) * 0.02
    w2 = torch.randn(e, d, i, device="cuda", dtype=torch.bfloat16) * 0.02
    rows = []
    for tokens in (1, 4, 16, 64, 128, 256, 512, 1024, 4096):
        x = torch.randn(tokens, d, device="cuda", dtype=torch.bfloat16)
        ids = torch.stack([torch.randperm(e, device="cuda")[:k] for _ in range(tokens)])
        wts = torch.rand(tokens, k, device="cuda")
        if tokens <= 256:
            ref = torch_experts(x.float(), w13.float(), w2.float(), wts, ids)
            err = rel_err(triton_fused_experts(x, w13, w2, wts, ids), ref)
        else:
            err = rel_err(triton_fused_experts(x, w13, w2, wts, ids), grouped_mm_experts(x, w13, w2, wts, ids))
        t_tr = do_bench(lambda: triton_fused_experts(x, w13, w2, wts, ids), return_mode="median")
        t_gm = do_bench(lambda: grouped_mm_experts(x, w13, w2, wts, ids), return_mode="median")
        rows.append((tokens, err, t_tr * 1e3, t_gm * 1e3))
        print(f"T={tokens:5d} rel_err={err:.2e} triton={t_tr * 1e3:8.1f}us grouped_mm={t_gm * 1e3:8.1f}us", flush=True)
    return rows


def profile_decode(batch_sizes: tuple[int, ...], out: Path) -> None:
    from moesaic.engine import LLM, SamplingParams

    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps(MOONLIGHT))
    llm = LLM(tmp, device="cuda", dtype="bfloat16", load_format="dummy", use_cuda_graphs=False,
              compile_decode=False, gpu_memory_utilization=0.8)
    for bs in batch_sizes:
        for _ in range(bs):
            llm.add_request(rand_prompt(256), SamplingParams(temperature=0.0, max_tokens=64, ignore_eos=True))
        while llm.scheduler.waiting or any(s.num_uncomputed_tokens > 1 for s in llm.scheduler.running):
            llm.step()
        for _ in range(3):
            llm.step()
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                llm.step()
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60)
        (out / f"profile_b{bs}.txt").write_text(table)
        print(f"--- eager decode, batch {bs}, 3 steps ---\n{table}", flush=True)
        for seq in list(llm.scheduler.running):
            llm.abort(seq)
    # one prefill chunk: 32 prompts of 256 tokens (8192 tokens)
    for _ in range(32):
        llm.add_request(rand_prompt(256), SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True))
    llm.step()
    for _ in range(32):
        llm.add_request(rand_prompt(256), SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True))
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        llm.step()
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60)
    (out / "profile_prefill.txt").write_text(table)
    print(f"--- prefill chunk of 32 x 256 tokens ---\n{table}", flush=True)


def profile_graph_decode(batch_sizes: tuple[int, ...], out: Path, prefill: bool = True) -> None:
    """Decode steps as served: compiled layers replayed through CUDA graphs, several steps per `step()`."""
    from moesaic.engine import LLM, SamplingParams

    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps(MOONLIGHT))
    llm = LLM(tmp, device="cuda", dtype="bfloat16", load_format="dummy", gpu_memory_utilization=0.8,
              max_num_seqs=128)
    for bs in batch_sizes:
        seqs = [llm.add_request(rand_prompt(256), SamplingParams(temperature=0.0, max_tokens=2000, ignore_eos=True))
                for _ in range(bs)]
        while llm.scheduler.waiting or any(s.num_uncomputed_tokens > 1 for s in llm.scheduler.running):
            llm.step()
        for _ in range(3):
            llm.step()
        torch.cuda.synchronize()
        before = sum(s.num_output_tokens for s in seqs)
        t = time.perf_counter()
        for _ in range(10):
            llm.step()
        torch.cuda.synchronize()
        steps = (sum(s.num_output_tokens for s in seqs) - before) / bs
        step_ms = (time.perf_counter() - t) * 1e3 / steps
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            before = sum(s.num_output_tokens for s in seqs)
            llm.step()
            torch.cuda.synchronize()
        profiled = (sum(s.num_output_tokens for s in seqs) - before) / bs
        events = prof.key_averages()
        n_kernels = sum(e.count for e in events) / profiled
        gpu_ms = sum(e.self_device_time_total for e in events) / profiled / 1e3
        table = events.table(sort_by="self_cuda_time_total", row_limit=60, max_name_column_width=70)
        (out / f"profile_graph_b{bs}.txt").write_text(table)
        prof.export_chrome_trace(str(out / f"trace_graph_b{bs}.json"))
        print(f"--- graph decode batch {bs}: wall {step_ms:.2f} ms/step ({bs / step_ms * 1e3:.0f} tok/s), "
              f"GPU {gpu_ms:.2f} ms/step, {n_kernels:.0f} kernels/step ---", flush=True)
        for seq in list(llm.scheduler.running):
            llm.abort(seq)
    if not prefill:
        return
    # one prefill chunk as served: 32 prompts of 256 tokens (8192 tokens)
    for _ in range(2):
        for _ in range(32):
            llm.add_request(rand_prompt(256), SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True))
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            llm.step()
            torch.cuda.synchronize()
        wall_ms = (time.perf_counter() - t) * 1e3
    events = prof.key_averages()
    gpu_ms = sum(e.self_device_time_total for e in events) / 1e3
    table = events.table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=70)
    (out / "profile_graph_prefill.txt").write_text(table)
    print(f"--- prefill 32 x 256: wall {wall_ms:.1f} ms (profiled), GPU {gpu_ms:.1f} ms ---", flush=True)


def profile_cached_ttft(out: Path) -> None:
    """One prefill of 16 new tokens over a cached 4096-token prefix, CPU and GPU side by side."""
    from moesaic.engine import LLM, SamplingParams

    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps(MOONLIGHT))
    llm = LLM(tmp, device="cuda", dtype="bfloat16", load_format="dummy", gpu_memory_utilization=0.8,
              max_num_seqs=16, max_graph_batch_size=16)
    params = SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True)
    prefix = rand_prompt(4096)
    for _ in range(3):
        llm.generate([prefix + rand_prompt(16)], params)
    for label in ("cached", "uncached"):
        prompt = prefix + rand_prompt(16) if label == "cached" else rand_prompt(4112)
        torch.cuda.synchronize()
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        ) as prof:
            t = time.perf_counter()
            res = llm.generate([prompt], params)
            torch.cuda.synchronize()
            wall = (time.perf_counter() - t) * 1e3
        table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=30, max_name_column_width=60)
        (out / f"profile_ttft_{label}.txt").write_text(table)
        print(f"--- TTFT {label}: {wall:.1f} ms, cached tokens {res[0].num_cached_tokens} ---", flush=True)
        print(table, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--ttft", action="store_true", help="profile the cached-prefix TTFT path")
    ap.add_argument("--graph", action="store_true", help="profile compiled CUDA-graph decode instead")
    ap.add_argument("--experts", action="store_true", help="also time the expert kernels alone")
    ap.add_argument("--batches", default="1,128", help="decode batch sizes to profile, comma separated")
    ap.add_argument("--no-prefill", action="store_true", help="skip the prefill profile")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    batches = tuple(int(b) for b in args.batches.split(","))
    if args.experts:
        rows = expert_kernels()
        (out / "experts.json").write_text(json.dumps(rows))
    if args.ttft:
        profile_cached_ttft(out)
        return
    if args.graph:
        profile_graph_decode(batches, out, prefill=not args.no_prefill)
    else:
        profile_decode(batches, out)


if __name__ == "__main__":
    main()
