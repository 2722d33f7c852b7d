"""Decode router (1 to 16 tokens): the fused logits + selection kernel at different program sizes, against cuBLAS logits +
the selection kernel, timed inside a CUDA graph of one call per MoE layer (26 router weights).

    PYTHONPATH=platform python3 bench/router_probe.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graph_timing import graph_us
from moesaic.engine.kernels.router_triton import triton_route, triton_route_fused

LAYERS = 26  # MoE layers of the Moonlight shape


def main() -> None:
    torch.manual_seed(0)
    e, d = 64, 2048
    weights = [torch.randn(e, d, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(LAYERS)]
    weights32 = [w.float() for w in weights]
    bias = torch.randn(e, device="cuda") * 0.01
    arrivals = torch.zeros(16, dtype=torch.int32, device="cuda")
    args = (bias, 6, True, True, 2.5, 2)
    for tokens in (1, 4, 8, 16):
        x = torch.randn(tokens, d, device="cuda", dtype=torch.bfloat16)
        t = graph_us(lambda i: triton_route(F.linear(x.float(), weights32[i]), *args), LAYERS)
        print(f"T={tokens:2d} cuBLAS logits + selection kernel: {t:.2f} us", flush=True)
        for block_e in (1, 2, 4):
            for warps in (1, 2, 4):
                t = graph_us(
                    lambda i: triton_route_fused(x, weights[i], *args, arrivals, block_e=block_e, num_warps=warps),
                    LAYERS,
                )
                print(f"T={tokens:2d} fused block_e={block_e} warps={warps}: {t:.2f} us", flush=True)


if __name__ == "__main__":
    main()
