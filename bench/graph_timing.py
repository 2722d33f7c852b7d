"""Timing for decode-sized kernels the way the engine runs them: a CUDA graph holding one call per layer
(each layer with its own weights, so they come from HBM rather than L2), replayed; no launch overhead in
the number."""

from __future__ import annotations

from collections.abc import Callable

import torch


def graph_us(run: Callable[[int], object], layers: int, reps: int = 20) -> float:
    """Median microseconds per call of `run(layer)` for layer in range(layers), inside one graph."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up outside capture (compilation, handles)
        for layer in range(layers):
            run(layer)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for layer in range(layers):
            run(layer)
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / layers)
    return sorted(times)[reps // 2]
