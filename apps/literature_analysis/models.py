"""The shipped models: the artefact folder, its settings, and one loaded ``ClaimModels`` per process.

``artefact/`` holds ``selector``, ``labeler``, ``reranker`` and ``pubmedqa`` (``*.safetensors``, LoRA
adapters + heads, see ``encoder``), ``settings.json`` (the claim-check settings picked on the inner
development claims) and ``MODEL_CARD.md``. ``model_version`` names them by content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.literature_analysis.evaluate import PipelineSettings

ARTEFACT_DIR = Path(os.environ.get("LITERATURE_ARTEFACT_DIR") or Path(__file__).resolve().parent / "artefact")
MODEL_FILES = ("selector", "labeler", "reranker", "pubmedqa", "retriever")  # reranker and retriever are optional
_LOCK = threading.Lock()
CLAIM_CHECK = ("selector", "labeler")
DEFAULT_PRECISION = "fp32"  # int8 is 1.1-1.5x faster but costs 0.01-0.03 held-out F1: docs/BENCHMARKS.md (2026-12-01, session 4)


def default_precision() -> str:
    """``$LITERATURE_PRECISION`` (fp32, int8 or bf16), else ``DEFAULT_PRECISION``."""
    return os.environ.get("LITERATURE_PRECISION") or DEFAULT_PRECISION


def pipeline_settings(folder: Path = ARTEFACT_DIR) -> PipelineSettings:
    return PipelineSettings.from_dict(json.loads((folder / "settings.json").read_text(encoding="utf-8")))


def model_version(folder: Path = ARTEFACT_DIR) -> str:
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        if (folder / f"{name}.safetensors").exists():
            digest.update(name.encode() + (folder / f"{name}.safetensors").read_bytes())
    digest.update((folder / "settings.json").read_bytes())
    return f"minilm-l6-lora-{digest.hexdigest()[:12]}"


@dataclass
class ClaimModels:
    selector: Any  # encoder.PairScorer
    labeler: Any
    reranker: Any  # None: retrieval order as the search gives it
    pubmedqa: Any
    settings: PipelineSettings
    version: str
    retriever: Path | None = None  # the fine-tuned MiniLM adapters for dense search, when shipped

    @classmethod
    def load(cls, folder: Path = ARTEFACT_DIR, device: str = "cpu", precision: str | None = None) -> "ClaimModels":
        """``precision`` of the claim check's selector and labeler: ``fp32``, ``int8`` or ``bf16``
        (``encoder.with_precision``; default ``default_precision()``; int8 is CPU only, so another device gets
        fp32 unless told)."""
        import torch

        from apps.literature_analysis.encoder import PairScorer

        torch.set_num_threads(max(1, torch.get_num_threads()))
        precision = precision or (default_precision() if device == "cpu" else "fp32")
        scorers = {  # the precision applies to the claim check's two models; the reranker and PubMedQA's stay fp32
            name: PairScorer.load(folder / f"{name}.safetensors", device=device, precision=precision if name in CLAIM_CHECK else "fp32")
            if (folder / f"{name}.safetensors").exists() else None
            for name in ("selector", "labeler", "reranker", "pubmedqa")
        }
        retriever = folder / "retriever.safetensors"
        return cls(**scorers, settings=pipeline_settings(folder), version=model_version(folder), retriever=retriever if retriever.exists() else None)


def get_models(services: dict[str, Any]) -> ClaimModels:
    """The process's models, loaded once (thread-safe); tests may put their own in ``services``."""
    with _LOCK:
        models = services.get("models")
        if models is None:
            models = ClaimModels.load(Path(services.get("artefact") or ARTEFACT_DIR))
            services["models"] = models
        return models  # type: ignore[no-any-return]
