"""MLA decode prologue at Moonlight shapes: W_UK absorbed inside the prologue kernel against the plain
prologue followed by cuBLAS bmm, per row count, timed inside a CUDA graph with one W_UK per layer. Picks
`PROLOGUE_ABSORB_MAX_TOKENS` in model.py.

    PYTHONPATH=platform python3 bench/prologue_probe.py
"""

from __future__ import annotations

import torch

from graph_timing import graph_us
from moesaic.engine.kernels.mla_prologue import mla_decode_prologue

LAYERS = 27
HEADS, NOPE, ROPE, RANK = 16, 128, 64, 512


def main() -> None:
    torch.manual_seed(0)
    w_uk = [torch.randn(HEADS, NOPE, RANK, device="cuda", dtype=torch.bfloat16) * 0.05 for _ in range(LAYERS)]
    cos, sin = torch.rand(4096, ROPE // 2, device="cuda"), torch.rand(4096, ROPE // 2, device="cuda")
    norm_w = torch.rand(RANK, device="cuda", dtype=torch.bfloat16)
    cache = torch.zeros(LAYERS, 64, 16, RANK + ROPE, device="cuda", dtype=torch.bfloat16)
    print(f"{'rows':>5s} {'absorbed':>9s} {'prologue+bmm':>13s}  (us per layer)")
    for rows in (1, 2, 4, 8, 16, 32):
        q = torch.randn(rows, HEADS, NOPE + ROPE, device="cuda", dtype=torch.bfloat16)
        kv = torch.randn(rows, RANK + ROPE, device="cuda", dtype=torch.bfloat16)
        pos = torch.randint(0, 4096, (rows,), device="cuda")
        slots = torch.arange(rows, device="cuda")

        def absorbed(i: int) -> None:
            mla_decode_prologue(q, kv, pos, cos, sin, norm_w, 1e-6, cache[i], slots, w_uk[i])

        def separate(i: int) -> None:
            mla_decode_prologue(q, kv, pos, cos, sin, norm_w, 1e-6, cache[i], slots)
            torch.einsum("thn,hnr->thr", q[..., :NOPE], w_uk[i])

        ref = torch.einsum("thn,hnr->thr", q[..., :NOPE], w_uk[0])
        got, _ = mla_decode_prologue(q, kv, pos, cos, sin, norm_w, 1e-6, cache[0], slots, w_uk[0])
        assert got is not None and float((got.float() - ref.float()).norm() / ref.float().norm()) < 1e-2
        print(f"{rows:5d} {graph_us(absorbed, LAYERS):9.2f} {graph_us(separate, LAYERS):13.2f}", flush=True)


if __name__ == "__main__":
    main()
