"""Tile sweep for the Triton expert kernels at Moonlight shapes (64 routed + 2 folded shared experts, top-6):
each config's time for the gate+up and the down launch, at decode batch 1 (direct rows) and 128 (sorted
rows), with the achieved weight bandwidth. Prints the best config per case; copy it into KERNEL_CONFIGS.

    PYTHONPATH=platform python3 bench/moe_sweep.py
"""

from __future__ import annotations

import itertools

import torch
from triton.testing import do_bench

from moesaic.engine.kernels import moe_triton


def main() -> None:
    e, d, i, k, shared = 66, 2048, 1408, 6, 2
    w13 = torch.randn(e, 2 * i, d, device="cuda", dtype=torch.bfloat16) * 0.02
    w2 = torch.randn(e, d, i, device="cuda", dtype=torch.bfloat16) * 0.02
    for tokens in (1, 128):
        x = torch.randn(tokens, d, device="cuda", dtype=torch.bfloat16)
        ids = torch.cat([torch.stack([torch.randperm(64, device="cuda")[:k] for _ in range(tokens)]),
                         torch.tensor([[64, 65]], device="cuda").expand(tokens, -1)], 1)
        num = ids.numel()
        direct = num <= moe_triton.DIRECT_MAX_ASSIGNMENTS
        block_m = 16 if num <= 1024 else 64
        sorted_ids = block_expert = None
        if not direct:
            sorted_ids, block_expert = moe_triton.align_by_expert(ids.reshape(-1), e, block_m)
        hit = ids.unique().numel()
        flat = ids.reshape(-1).contiguous()
        route_w = torch.rand(num, device="cuda")
        act = torch.randn(num, i, device="cuda", dtype=torch.bfloat16)
        for gate_up in (True, False):
            weights, n, a, row_div = (w13, i, x, k + shared) if gate_up else (w2, d, act, 1)
            out = torch.empty(num, n, device="cuda", dtype=torch.bfloat16 if gate_up else torch.float32)
            nbytes = hit * weights[0].numel() * 2
            results = []
            for block_n, block_k, warps, stages in itertools.product((16, 32, 64), (128, 256), (4, 8), (3, 4, 5)):
                moe_triton.KERNEL_CONFIGS[(direct, gate_up)] = (block_n, block_k, warps, stages)

                def run() -> None:
                    moe_triton._launch(a, weights, out, n=n, num=num, row_div=row_div, gate_up=gate_up,
                                       route_w=None if gate_up else route_w, topk_ids=flat, sorted_ids=sorted_ids,
                                       block_expert=block_expert, block_m=block_m)

                try:
                    ms = do_bench(run, warmup=5, rep=25, return_mode="median")
                except Exception:  # out of shared memory / registers for this tile
                    continue
                results.append((ms, block_n, block_k, warps, stages))
            results.sort()
            for ms, *cfg in results[:3]:
                print(f"T={tokens:4d} {'gate_up' if gate_up else 'down   '} direct={direct} cfg={tuple(cfg)} "
                      f"{ms * 1e3:7.1f} us  {nbytes / ms / 1e9:6.0f} GB/s", flush=True)


if __name__ == "__main__":
    main()
