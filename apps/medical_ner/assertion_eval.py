"""Accuracy of the assertion rules on the labelled sentences in ``seed/``.

``assertions.jsonl`` was written together with the rules (a development set: the rules were fixed until
it passed); ``assertions_heldout.jsonl`` was written after the rules were frozen and scored once, so its
accuracy is the honest estimate. Each line: ``{"text", "entity", "assertion", "occurrence"?}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.medical_ner.assertion import STATUSES, assert_entity

SEED = Path(__file__).resolve().parent / "seed"
SETS = {"development": SEED / "assertions.jsonl", "heldout": SEED / "assertions_heldout.jsonl"}


@dataclass(frozen=True)
class LabelledAssertion:
    text: str
    start: int
    end: int
    assertion: str


def load(path: Path) -> list[LabelledAssertion]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["assertion"] not in STATUSES:
            raise ValueError(f"{path}:{number}: assertion {raw['assertion']!r} is not one of {STATUSES}")
        start = -1
        for _ in range(int(raw.get("occurrence", 1))):
            start = raw["text"].find(raw["entity"], start + 1)
        if start < 0:
            raise ValueError(f"{path}:{number}: entity {raw['entity']!r} not in its text")
        rows.append(LabelledAssertion(raw["text"], start, start + len(raw["entity"]), raw["assertion"]))
    return rows


def accuracy() -> dict[str, float]:
    """``{"accuracy_development": ..., "accuracy_heldout": ...}``."""
    result = {}
    for name, path in SETS.items():
        rows = load(path)
        correct = sum(assert_entity(r.text, r.start, r.end) == r.assertion for r in rows)
        result[f"accuracy_{name}"] = correct / len(rows)
    return result


def main(argv: Sequence[str] = ()) -> int:
    for name, path in SETS.items():
        rows = load(path)
        wrong = [r for r in rows if assert_entity(r.text, r.start, r.end) != r.assertion]
        for r in wrong:
            print(f"{name}: expected {r.assertion}, got {assert_entity(r.text, r.start, r.end)}: {r.text!r} [{r.text[r.start:r.end]}]", file=sys.stderr)
        print(f"{name}: {len(rows) - len(wrong)}/{len(rows)} correct", file=sys.stderr)
    print(json.dumps({k: round(v, 4) for k, v in accuracy().items()}))
    return 0
