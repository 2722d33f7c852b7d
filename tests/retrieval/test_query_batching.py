"""Concurrent query embeddings share forward passes, and each caller still gets its own vector."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from moesaic.retrieval.batching import QueryBatcher
from moesaic.retrieval.embeddings import SentenceTransformerEmbedder
from moesaic.retrieval.onnx_embedder import OnnxEmbedder


def vector_of(text: str) -> np.ndarray:
    return np.array([len(text), sum(map(ord, text))], dtype=np.float32)


def test_waiting_queries_share_one_pass_and_each_gets_its_own_vector() -> None:
    first_pass_started, release_first_pass = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def embed_many(texts: list[str]) -> np.ndarray:
        batches.append(list(texts))
        if len(batches) == 1:  # hold the first pass until every other query waits behind it
            first_pass_started.set()
            release_first_pass.wait(5)
        return np.stack([vector_of(t) for t in texts])

    batcher = QueryBatcher(embed_many)
    texts = [f"question number {i}" + "?" * i for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(batcher.embed, texts[0])
        assert first_pass_started.wait(5)
        rest = [pool.submit(batcher.embed, t) for t in texts[1:]]
        while sum(len(b) for b in batches) + len(batcher._waiting) < len(texts):  # all queued
            threading.Event().wait(0.01)
        release_first_pass.set()
        results = [first.result(5)] + [f.result(5) for f in rest]
    for text, vector in zip(texts, results):
        np.testing.assert_array_equal(vector, vector_of(text))
    assert batches[0] == [texts[0]]
    assert len(batches) == 2 and sorted(batches[1]) == sorted(texts[1:])  # the 11 waiting: one pass


def test_a_query_alone_is_embedded_at_once() -> None:
    batcher = QueryBatcher(lambda texts: np.stack([vector_of(t) for t in texts]))
    np.testing.assert_array_equal(batcher.embed("alone"), vector_of("alone"))
    assert batcher.passes == 1


def test_a_failed_pass_raises_in_its_callers_and_the_next_one_runs() -> None:
    calls = []

    def embed_many(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("model broke")
        return np.stack([vector_of(t) for t in texts])

    batcher = QueryBatcher(embed_many)
    with pytest.raises(RuntimeError, match="model broke"):
        batcher.embed("first")
    np.testing.assert_array_equal(batcher.embed("second"), vector_of("second"))


def test_minilm_batched_queries_equal_unbatched(embedder: SentenceTransformerEmbedder | OnnxEmbedder) -> None:
    texts = [f"How many days do I have to return item {i}?" + " please" * (i % 4) for i in range(16)]
    alone = [embedder.embed_documents([t])[0] for t in texts]
    before = embedder._queries.passes
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(embedder.embed_query, texts))
    assert embedder._queries.passes - before <= len(texts)
    for a, b in zip(alone, together):
        assert b.shape == (embedder.dimension,)
        if embedder.precision == "fp32":
            np.testing.assert_allclose(a, b, atol=1e-5)
        else:  # bf16 rounding depends on the padding (measured max |diff| 7e-4); int8: a pass shares one scale
            assert float(a @ b) > (0.999 if embedder.precision == "bf16" else 0.99)
