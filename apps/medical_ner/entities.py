"""``Entity``: what extraction returns, and the input rules every mode shares.

An entity is a character span of the caller's text (``text == source[start:end]`` always), a label
(problem, treatment, test), an assertion status, a score (the model's mean tag probability; ``None``
for LLM entities) and its source (``model`` or ``llm``). No extraction logic here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from moesaic.errors import UserError

from apps.medical_ner.labels import LABELS

MODES = ("model", "llm", "hybrid")
# An entity before its text and assertion are filled in: (start, end, label, score, source, assertion or None)
SpanTuple = tuple[int, int, str, float | None, str, str | None]
MAX_TEXT_CHARS = 100_000  # one text; larger inputs go through a job


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    text: str
    label: str
    assertion: str
    score: float | None
    source: str  # "model" | "llm"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_text(text: object, field: str = "text") -> str:
    """The text, or a ``UserError`` naming ``field``: not a string, empty, or over ``MAX_TEXT_CHARS``."""
    if not isinstance(text, str):
        raise UserError(f"{field} must be a string, got {type(text).__name__}", field=field)
    if not text.strip():
        raise UserError(f"{field} is empty", field=field)
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"{field} has {len(text)} characters; the limit is {MAX_TEXT_CHARS} (send larger inputs as a job)", field=field)
    return text


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}", field="mode")
    return mode


def check_labels(labels: Iterable[str] | None) -> frozenset[str]:
    """The label filter (all labels when ``None``); an unknown label is a ``UserError`` naming ``labels``."""
    if labels is None:
        return frozenset(LABELS)
    chosen = frozenset(labels)
    unknown = sorted(chosen - set(LABELS))
    if unknown:
        raise UserError(f"unknown label(s) {unknown}; expected some of {', '.join(LABELS)}", field="labels")
    if not chosen:
        raise UserError(f"labels is empty; leave it out for all of {', '.join(LABELS)}", field="labels")
    return chosen
