"""The app's loaded state: one ``Extractor`` per process, built on first use (or in ``warmup``).

``setup`` only records where the artefact is; ``warmup`` (API, worker) loads the model so the first
request does not pay for it. Inference runs in bf16 where the CPU has it natively (``Tagger.default_precision``). ``model_version`` names the base, the method and the artefact's hash.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from apps.medical_ner.extract import Extractor

_LOCK = threading.Lock()


def model_version(artefact: Path) -> str:
    from apps.medical_ner.model import read_config

    config = read_config(artefact)
    digest = hashlib.sha256(artefact.read_bytes()).hexdigest()[:12]
    method = f"lora-r{config.lora_rank}" if config.method == "lora" else config.method
    return f"minilm-l6-{method}-{digest}"


def get_extractor(services: dict[str, Any], chat_model: Any = None) -> Extractor:
    """The process's extractor, loading the tagger once (thread-safe)."""
    with _LOCK:
        extractor = services.get("extractor")
        if extractor is None:
            from apps.medical_ner.tagger import DEFAULT_ARTEFACT, Tagger

            artefact = Path(services.get("artefact") or DEFAULT_ARTEFACT)
            tagger = services.get("tagger") or Tagger.load(artefact, precision=services.get("precision") or "auto")
            services["tagger"] = tagger
            extractor = Extractor(tagger, chat_model, model_version=model_version(artefact))
            services["extractor"] = extractor
        elif chat_model is not None and extractor.chat_model is None:
            extractor.chat_model = chat_model
        return extractor
