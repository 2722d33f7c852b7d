"""The app's retriever for the platform's knowledge bases: the MiniLM encoder with the LoRA adapters
fine-tuned on SciFact's training claims (``dense_train``), as a ``moesaic.retrieval`` Embedder.

Registered by the manifest as ``literature_minilm``; the app's own knowledge base uses it
(``knowledge_base_settings``), any other may name it. Loaded once per process.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

EMBEDDER_NAME = "literature_minilm"
_LOCK = threading.Lock()


class LiteratureEmbedder:
    name = EMBEDDER_NAME
    dimension = 384

    def __init__(self, adapter: Path | None = None) -> None:
        from apps.literature_analysis.models import ARTEFACT_DIR
        from apps.literature_analysis.retrieve import DenseEncoder

        path = adapter or ARTEFACT_DIR / "retriever.safetensors"
        self.encoder = DenseEncoder(adapter=path if path.exists() else None)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self.encoder.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return self.encoder.embed([text])[0]


_SHARED: dict[str, LiteratureEmbedder] = {}


def literature_embedder() -> LiteratureEmbedder:
    """The process's embedder (the platform calls this factory on first use)."""
    with _LOCK:
        if "embedder" not in _SHARED:
            _SHARED["embedder"] = LiteratureEmbedder()
        return _SHARED["embedder"]
