"""Tile sweep for the Triton expert kernels at Moonlight shapes (64 routed + 2 folded shared experts, top-6):
each config's time for the gate+up and the down launch, at decode batch 1 (direct rows) and 128 (sorted
rows), with the achieved weight bandwidth. Timed as decode runs them: a CUDA graph of one launch per MoE
layer (26), each layer with its own expert choice, replayed (no launch overhead in the number, and the
weights come from HBM, not L2). Prints the best configs per case; copy the best into KERNEL_CONFIGS.

    PYTHONPATH=platform python3 bench/moe_sweep.py [--tokens 1,128]
"""

from __future__ import annotations

import argparse
import itertools

import torch

from graph_timing import graph_us
from moesaic.engine.kernels import moe_triton

LAYERS = 26


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", default="1,128")
    args = ap.parse_args()
    e, d, i, k, shared = 66, 2048, 1408, 6, 2
    w13 = torch.randn(e, 2 * i, d, device="cuda", dtype=torch.bfloat16) * 0.02
    w2 = torch.randn(e, d, i, device="cuda", dtype=torch.bfloat16) * 0.02
    for tokens in (int(t) for t in args.tokens.split(",")):
        x = torch.randn(tokens, d, device="cuda", dtype=torch.bfloat16)
        layer_ids = [torch.cat([torch.stack([torch.randperm(64, device="cuda")[:k] for _ in range(tokens)]),
                                torch.tensor([[64, 65]], device="cuda").expand(tokens, -1)], 1)
                     for _ in range(LAYERS)]
        num = layer_ids[0].numel()
        direct = num <= moe_triton.DIRECT_MAX_ASSIGNMENTS
        block_m = 16 if num <= 1024 else 64
        flats = [ids.reshape(-1).contiguous() for ids in layer_ids]
        aligned = [moe_triton.align_by_expert(f, e, block_m) if not direct else (None, None) for f in flats]
        hit = sum(ids.unique().numel() for ids in layer_ids) / LAYERS
        route_w = torch.rand(num, device="cuda")
        act = torch.randn(num, i, device="cuda", dtype=torch.bfloat16)
        for gate_up in (True, False):
            weights, n, a, row_div = (w13, i, x, k + shared) if gate_up else (w2, d, act, 1)
            out = torch.empty(num, n, device="cuda", dtype=torch.bfloat16 if gate_up else torch.float32)
            nbytes = hit * weights[0].numel() * 2
            results = []
            shipped = moe_triton.KERNEL_CONFIGS[(direct, gate_up)]
            for block_n, block_k, warps, stages in itertools.product((16, 32, 64), (64, 128, 256), (2, 4, 8),
                                                                      (2, 3, 4, 5)):
                if warps == 8 and block_n == 16:
                    continue
                moe_triton.KERNEL_CONFIGS[(direct, gate_up)] = (block_n, block_k, warps, stages)

                def run(layer: int) -> None:
                    moe_triton._launch(a, weights, out, n=n, num=num, row_div=row_div, gate_up=gate_up,
                                       route_w=None if gate_up else route_w, topk_ids=flats[layer],
                                       sorted_ids=aligned[layer][0], block_expert=aligned[layer][1], block_m=block_m)

                try:
                    us = graph_us(run, LAYERS, reps=15)
                except Exception:  # out of shared memory / registers for this tile
                    continue
                results.append((us, block_n, block_k, warps, stages))
            results.sort()
            moe_triton.KERNEL_CONFIGS[(direct, gate_up)] = shipped
            for us, *cfg in results[:4] + [r for r in results if tuple(r[1:]) == shipped]:
                print(f"T={tokens:4d} {'gate_up' if gate_up else 'down   '} direct={direct} cfg={tuple(cfg)} "
                      f"{us:7.2f} us  {nbytes / us / 1e3:6.0f} GB/s", flush=True)


if __name__ == "__main__":
    main()
