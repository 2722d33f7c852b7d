"""IOB corpora: read ``<corpus>/<split>.tsv`` files into sentences, and rebuild each sentence's text.

A file holds one ``token<TAB>tag`` per line and a blank line between sentences. The text of a sentence
is its tokens joined by single spaces; gold entities are character spans of that text, so the model
is scored on exactly what it would see from a user. The data directory comes from
``MOESAIC_DATASETS_DIR`` (default ``../shared/data``); the files are never part of the repository.
This module reads and converts; it does not tokenize for the model or score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from apps.medical_ner.labels import corpus_name, map_corpus_tag

CORPORA: tuple[str, ...] = ("NCBI-disease-IOB", "BC5CDR-IOB", "BC5CDR-chem-IOB", "BC5CDR-disease-IOB")


@dataclass(frozen=True)
class Span:
    """An entity as character offsets into a text, with our label."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class IOBSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]  # our tags: O, B-problem, I-treatment, ...

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def token_offsets(self) -> list[tuple[int, int]]:
        offsets, position = [], 0
        for token in self.tokens:
            offsets.append((position, position + len(token)))
            position += len(token) + 1
        return offsets

    def spans(self) -> list[Span]:
        """Gold entities as character spans of ``text`` (an ``I-`` without its ``B-`` starts one, as conlleval does)."""
        return spans_from_tags(self.tags, self.token_offsets())


def spans_from_tags(tags: tuple[str, ...] | list[str], offsets: list[tuple[int, int]]) -> list[Span]:
    """BIO tags over units with character ``offsets`` -> spans. conlleval's chunk rules: an entity ends at
    ``O``, at ``B-``, or at an ``I-`` of another label; an ``I-`` after ``O`` begins a new entity."""
    spans: list[Span] = []
    start = end = -1
    label = ""
    for tag, (unit_start, unit_end) in zip(tags, offsets, strict=True):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and label == kind and start >= 0
        if not continues and start >= 0:
            spans.append(Span(start, end, label))
            start = -1
        if prefix in ("B", "I") and not continues:
            start, label = unit_start, kind
        if prefix in ("B", "I"):
            end = unit_end
    if start >= 0:
        spans.append(Span(start, end, label))
    return spans


def datasets_dir() -> Path:
    """``MOESAIC_DATASETS_DIR`` or ``../shared/data`` (relative to the working directory)."""
    return Path(os.environ.get("MOESAIC_DATASETS_DIR", "../shared/data"))


def default_ner_dir() -> Path:
    return datasets_dir() / "biomed_ner"


def read_iob(path: Path) -> list[IOBSentence]:
    """Sentences of one IOB file, tags mapped to ours. A malformed line raises ``ValueError`` naming file and line."""
    sentences: list[IOBSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    sentences.append(IOBSentence(tuple(tokens), tuple(tags)))
                    tokens, tags = [], []
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or parts[0].strip() != parts[0]:
                raise ValueError(f"{path}:{number}: expected 'token<TAB>tag', got {line!r}")
            try:
                tags.append(map_corpus_tag(parts[1]))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            tokens.append(parts[0])
    if tokens:
        sentences.append(IOBSentence(tuple(tokens), tuple(tags)))
    return sentences


def read_corpora(data_dir: Path, split: str, corpora: tuple[str, ...] = CORPORA) -> dict[str, list[IOBSentence]]:
    """``{corpus name: sentences}`` for every listed corpus folder that has ``<split>.tsv``."""
    found: dict[str, list[IOBSentence]] = {}
    for folder in corpora:
        path = Path(data_dir) / folder / f"{split}.tsv"
        if path.is_file():
            found[corpus_name(folder)] = read_iob(path)
    return found
