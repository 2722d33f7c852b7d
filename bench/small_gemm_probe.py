"""Batch-1 projections: cuBLAS against Triton GEMV variants, timed the way decode runs them (inside a CUDA
graph, one weight per layer so nothing is served from L2).

    PYTHONPATH=platform python3 bench/small_gemm_probe.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from graph_timing import graph_us

LAYERS = 27


@triton.jit
def _gemv_fma(X, W, Y, N, K, stride_xm, stride_wn, stride_ym, M: tl.constexpr,
              BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = n < N
    ks = tl.arange(0, BLOCK_K)
    for m in tl.static_range(M):
        acc = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            x = tl.load(X + m * stride_xm + k0 + ks).to(tl.float32)
            w = tl.load(W + n[:, None].to(tl.int64) * stride_wn + k0 + ks[None, :], mask=n_ok[:, None], other=0.0)
            acc += w.to(tl.float32) * x[None, :]
        tl.store(Y + m * stride_ym + n, tl.sum(acc, 1).to(Y.dtype.element_ty), mask=n_ok)


@triton.jit
def _gemv_dot(X, W, Y, M, N, K, stride_xm, stride_wn, stride_ym,
              BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.arange(0, 16)
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    n_ok = n < N
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros([16, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        x = tl.load(X + rows[:, None] * stride_xm + k0 + ks[None, :], mask=rows[:, None] < M, other=0.0)
        w = tl.load(W + n[None, :].to(tl.int64) * stride_wn + k0 + ks[:, None], mask=n_ok[None, :], other=0.0)
        acc += tl.dot(x, w)
    tl.store(Y + rows[:, None] * stride_ym + n[None, :], acc.to(Y.dtype.element_ty),
             mask=(rows[:, None] < M) & n_ok[None, :])


def gemv(kind: str, x: torch.Tensor, w: torch.Tensor, y: torch.Tensor, bn: int, bk: int, warps: int, stages: int):
    m, k = x.shape
    n = w.shape[0]
    grid = (triton.cdiv(n, bn),)
    if kind == "fma":
        _gemv_fma[grid](x, w, y, n, k, x.stride(0), w.stride(0), y.stride(0), M=m, BLOCK_N=bn, BLOCK_K=bk,
                        num_warps=warps, num_stages=stages)
    else:
        _gemv_dot[grid](x, w, y, m, n, k, x.stride(0), w.stride(0), y.stride(0), BLOCK_N=bn, BLOCK_K=bk,
                        num_warps=warps, num_stages=stages)


def main() -> None:
    torch.manual_seed(0)
    rows = []
    for m, n, k in ((1, 3648, 2048), (1, 2048, 2048), (4, 3648, 2048), (1, 2048, 11264 // 2)):
        ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(LAYERS)]
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        ys = [torch.empty(m, n, device="cuda", dtype=torch.bfloat16) for _ in range(LAYERS)]
        ref = F.linear(x.float(), ws[0].float())
        mb = n * k * 2 / 1e6
        t = graph_us(lambda i: torch.mm(x, ws[i].t(), out=ys[i]), LAYERS)
        rows.append((m, n, k, "cublas", "", t, mb / t))
        variants = []
        for bn in (8, 16, 32):
            for bk in (256, 512):
                for stages in (2, 3, 4):
                    variants.append(("fma", bn, bk, 4, stages))
        for bn in (16, 32, 64):
            for bk in (128, 256):
                for stages in (3, 4, 6):
                    variants.append(("dot", bn, bk, 4, stages))
        best = None
        for kind, bn, bk, warps, stages in variants:
            if kind == "fma" and m > 4:
                continue
            try:
                gemv(kind, x, ws[0], ys[0], bn, bk, warps, stages)
                err = float((ys[0].float() - ref).norm() / ref.norm())
                if err > 1e-2:
                    rows.append((m, n, k, kind, f"{bn}/{bk}/{warps}/{stages} BAD err {err:.1e}", 0, 0))
                    continue
                t = graph_us(lambda i: gemv(kind, x, ws[i], ys[i], bn, bk, warps, stages), LAYERS)
            except Exception as exc:  # noqa: BLE001 - a config that does not compile is just skipped
                print("skip", kind, bn, bk, stages, type(exc).__name__, flush=True)
                continue
            if best is None or t < best[5]:
                best = (m, n, k, kind, f"{bn}/{bk}/{warps}/{stages}", t, mb / t)
            print(f"  {m}x{n}x{k} {kind} {bn}/{bk}/{warps}/{stages}: {t:.2f} us ({mb / t:.2f} TB/s)", flush=True)
        if best is not None:
            rows.append(best)
        del ws
    print("\nshape            variant            us     TB/s")
    for m, n, k, kind, cfg, t, bw in rows:
        print(f"{m}x{n}x{k:<6} {kind:6s} {cfg:12s} {t:6.2f}  {bw:5.2f}")


if __name__ == "__main__":
    main()
