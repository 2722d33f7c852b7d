"""Experiment: a dictionary built from the training data, added to the offline model's entities (issue 12).

The gazetteer holds entity strings of the ``train.tsv`` splits of the training corpora (NCBI-disease,
BC5CDR), as lower-cased token sequences, kept when they were annotated at least ``min_count`` times and
their tokens were annotated with that label in at least ``min_precision`` of their occurrences in the
training text (so "cancer" inside "breast cancer" counts against "cancer" alone). After the model has
tagged a sentence, every gazetteer match (longest first) that overlaps no model entity is added.

Scored like ``moesaic eval medical_ner`` on devel (entity-level exact match, each corpus its own labels),
for a grid of thresholds; the model's predictions are computed once. Usage:

    .venv/bin/python bench/medical_ner_gazetteer.py [--data DIR] [--precision fp32]

The last line is one JSON object: the baseline and each setting's scores per corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.medical_ner.evaluate import score_spans
from apps.medical_ner.iob import IOBSentence, Span, default_ner_dir, read_corpora
from apps.medical_ner.labels import CORPUS_LABELS

TRAIN_CORPORA = ("NCBI-disease-IOB", "BC5CDR-IOB")
MAX_WORDS = 8


@dataclass(frozen=True)
class Entry:
    label: str
    count: int  # annotated occurrences
    precision: float  # annotated with this label / all occurrences of the token sequence


def _entity_tokens(sentence: IOBSentence) -> list[tuple[int, int, str]]:
    """(first token, end token, label) of each gold entity."""
    found, start, label = [], None, None
    for i, tag in enumerate(list(sentence.tags) + ["O"]):
        inside = tag.startswith("I-") and label == tag[2:]
        if start is not None and not inside:
            found.append((start, i, str(label)))
            start, label = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, label = i, tag[2:]
    return found


def build(train: Sequence[IOBSentence]) -> dict[tuple[str, ...], dict[str, int]]:
    """Per lower-cased token sequence: how often it is annotated with each label, and (key '') seen at all."""
    counts: dict[tuple[str, ...], dict[str, int]] = defaultdict(Counter)
    for sentence in train:
        lowered = [t.lower() for t in sentence.tokens]
        for start, end, label in _entity_tokens(sentence):
            if end - start <= MAX_WORDS:
                counts[tuple(lowered[start:end])][label] += 1
    for sentence in train:  # every occurrence of a known sequence, annotated or not
        lowered = [t.lower() for t in sentence.tokens]
        for start in range(len(lowered)):
            for end in range(start + 1, min(len(lowered), start + MAX_WORDS) + 1):
                key = tuple(lowered[start:end])
                if key in counts:
                    counts[key][""] += 1
    return counts


def select(counts: dict[tuple[str, ...], dict[str, int]], min_count: int, min_precision: float,
           min_chars: int = 3) -> dict[tuple[str, ...], Entry]:
    chosen = {}
    for key, by_label in counts.items():
        seen = by_label.get("", 0)
        labelled = {k: v for k, v in by_label.items() if k}
        label, count = max(labelled.items(), key=lambda kv: kv[1])
        if count >= min_count and seen and count / seen >= min_precision and len(" ".join(key)) >= min_chars:
            chosen[key] = Entry(label, count, count / seen)
    return chosen


def add_matches(sentence: IOBSentence, predicted: Sequence[Span], gazetteer: dict[tuple[str, ...], Entry]) -> list[Span]:
    """The model's spans plus gazetteer matches (longest first, left to right) that overlap none of them."""
    offsets = sentence.token_offsets()
    lowered = [t.lower() for t in sentence.tokens]
    spans = list(predicted)
    taken = [(s.start, s.end) for s in spans]
    i = 0
    while i < len(lowered):
        for end in range(min(len(lowered), i + MAX_WORDS), i, -1):
            entry = gazetteer.get(tuple(lowered[i:end]))
            if entry is None:
                continue
            start_char, end_char = offsets[i][0], offsets[end - 1][1]
            if not any(s < end_char and start_char < e for s, e in taken):
                spans.append(Span(start_char, end_char, entry.label))
                taken.append((start_char, end_char))
            i = end - 1
            break
        i += 1
    return spans


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)
    data = args.data or default_ner_dir()
    train = [s for name, sentences in read_corpora(data, "train", TRAIN_CORPORA).items() for s in sentences]
    devel = read_corpora(data, "devel")
    counts = build(train)

    from apps.medical_ner.tagger import Tagger

    tagger = Tagger.load(precision=args.precision)
    predictions: dict[str, list[list[Span]]] = {}
    cache: dict[tuple[str, ...], list[list[Span]]] = {}
    for name, sentences in devel.items():
        key = tuple(s.text for s in sentences)
        if key not in cache:
            cache[key] = [[Span(x.start, x.end, x.label) for x in spans] for spans in tagger.tag(list(key))]
        predictions[name] = cache[key]

    def scores(gazetteer: dict[tuple[str, ...], Entry] | None) -> dict[str, dict[str, float]]:
        out = {}
        for name, sentences in devel.items():
            predicted = predictions[name] if gazetteer is None else [
                add_matches(s, p, gazetteer) for s, p in zip(sentences, predictions[name])]
            score = score_spans([s.spans() for s in sentences], predicted, CORPUS_LABELS.get(name))
            out[name] = score.as_dict()
        return out

    report: dict[str, object] = {"baseline": scores(None), "settings": []}
    print("baseline", {k: v["f1"] for k, v in report["baseline"].items()}, file=sys.stderr)  # type: ignore[attr-defined]
    for min_count in (2, 3, 5, 10):
        for min_precision in (0.8, 0.9, 0.95, 0.99):
            gazetteer = select(counts, min_count, min_precision)
            result = scores(gazetteer)
            row = {"min_count": min_count, "min_precision": min_precision, "entries": len(gazetteer), "corpora": result}
            report["settings"].append(row)  # type: ignore[attr-defined]
            print(min_count, min_precision, len(gazetteer), {k: v["f1"] for k, v in result.items()}, file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
