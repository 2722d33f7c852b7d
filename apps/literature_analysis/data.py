"""SciFact and PubMedQA as plain records, and the one fixed held-out split of their training data.

Reads the layout of ``$MOESAIC_DATASETS_DIR/scifact`` (``corpus.jsonl``, ``claims_<split>.jsonl``, ``beir/``)
and ``$MOESAIC_DATASETS_DIR/pubmedqa/pqal_trainval_500.json`` (also gzipped copies, ``*.gz``, which is how the
GPU machine gets them). The held-out part is chosen once, by a seeded shuffle of the sorted ids
(``HELDOUT_SEED``, ``HELDOUT_FRACTION``): nothing trains on it, every reported number is measured on it.
No torch here.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

LABELS = ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO")
PUBMEDQA_LABELS = ("yes", "no", "maybe")
HELDOUT_SEED = 20261201
HELDOUT_FRACTION = 0.2


def datasets_dir() -> Path:
    return Path(os.environ.get("MOESAIC_DATASETS_DIR", "../shared/data"))


def _open(path: Path) -> Any:
    if not path.exists() and Path(str(path) + ".gz").exists():
        path = Path(str(path) + ".gz")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@dataclass(frozen=True)
class Abstract:
    doc_id: str
    title: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class Evidence:
    label: str  # SUPPORT | CONTRADICT
    sentence_sets: tuple[tuple[int, ...], ...]  # each set: indices of one rationale

    @property
    def sentences(self) -> set[int]:
        return {i for group in self.sentence_sets for i in group}


@dataclass(frozen=True)
class Claim:
    id: int
    text: str
    evidence: dict[str, Evidence] = field(default_factory=dict)  # doc id -> evidence
    cited_doc_ids: tuple[str, ...] = ()


def load_corpus(scifact_dir: Path) -> dict[str, Abstract]:
    corpus = {}
    for row in _jsonl(scifact_dir / "corpus.jsonl"):
        doc_id = str(row["doc_id"])
        corpus[doc_id] = Abstract(doc_id, str(row["title"]), tuple(str(s).strip() for s in row["abstract"]))
    return corpus


def load_claims(scifact_dir: Path, split: str) -> list[Claim]:
    claims = []
    for row in _jsonl(scifact_dir / f"claims_{split}.jsonl"):
        evidence = {}
        for doc_id, sets in (row.get("evidence") or {}).items():
            labels = {s["label"] for s in sets}
            if len(labels) != 1:
                raise ValueError(f"claim {row['id']}: document {doc_id} has mixed labels {sorted(labels)}")
            evidence[str(doc_id)] = Evidence(labels.pop(), tuple(tuple(int(i) for i in s["sentences"]) for s in sets))
        claims.append(Claim(int(row["id"]), str(row["claim"]), evidence, tuple(str(d) for d in row.get("cited_doc_ids", ()))))
    return claims


def heldout_ids(ids: list[Any], fraction: float = HELDOUT_FRACTION, seed: int = HELDOUT_SEED) -> set[Any]:
    """The fixed held-out part of ``ids``: a seeded shuffle of the sorted ids, the first ``fraction``."""
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return set(order[: round(len(order) * fraction)])


def split_claims(claims: list[Claim]) -> tuple[list[Claim], list[Claim]]:
    """(train, heldout) of SciFact's training claims."""
    held = heldout_ids([c.id for c in claims])
    return [c for c in claims if c.id not in held], [c for c in claims if c.id in held]


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    contexts: tuple[str, ...]
    labels: tuple[str, ...]  # the contexts' section labels
    answer: str  # yes | no | maybe


def load_pubmedqa(path: Path) -> list[Question]:
    """The questions with their contexts and final decision; ``LONG_ANSWER`` and ``*_pred`` are never read."""
    with _open(path) as handle:
        raw = json.load(handle)
    return [
        Question(
            str(pmid),
            str(row["QUESTION"]),
            tuple(str(c) for c in row["CONTEXTS"]),
            tuple(str(label) for label in row.get("LABELS", ())),
            str(row.get("final_decision", "")),
        )
        for pmid, row in raw.items()
    ]


def split_questions(questions: list[Question]) -> tuple[list[Question], list[Question]]:
    held = heldout_ids([q.id for q in questions])
    return [q for q in questions if q.id not in held], [q for q in questions if q.id in held]


def load_beir(beir_dir: Path, split: str) -> tuple[dict[str, Abstract], dict[str, str], dict[str, set[str]]]:
    """(corpus, queries, qrels) of a BEIR folder; queries only those with qrels in ``split``."""
    corpus = {
        str(r["_id"]): Abstract(str(r["_id"]), str(r.get("title", "")), (str(r.get("text", "")),))
        for r in _jsonl(beir_dir / "corpus.jsonl")
    }
    qrels: dict[str, set[str]] = {}
    with _open(beir_dir / "qrels" / f"{split}.tsv") as handle:
        for number, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if number == 0 and parts[0] == "query-id" or len(parts) < 3:
                continue
            if float(parts[2]) > 0:
                qrels.setdefault(parts[0], set()).add(parts[1])
    queries = {str(r["_id"]): str(r["text"]) for r in _jsonl(beir_dir / "queries.jsonl") if str(r["_id"]) in qrels}
    return corpus, queries, qrels
