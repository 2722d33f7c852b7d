"""Entity-level exact-match precision, recall and F1 (conlleval semantics) on IOB corpora.

Gold entities are the corpus chunks (conlleval's chunk rules) as character spans of the sentence text
(tokens joined by spaces); a prediction counts only when start, end and label all match. Predicted
labels the corpus does not annotate are dropped before scoring (``labels.CORPUS_LABELS``). This module
scores; ``eval_cli`` prints the report line and ``train`` uses it for model selection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from apps.medical_ner.iob import IOBSentence
from apps.medical_ner.labels import CORPUS_LABELS

class SpanLike(Protocol):
    """Anything with a character span and a label (gold ``Span``, the tagger's ``ScoredSpan``)."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def label(self) -> str: ...


Predictor = Callable[[Sequence[str]], Sequence[Sequence[SpanLike]]]


@dataclass(frozen=True)
class Score:
    num_gold: int
    num_pred: int
    num_correct: int

    @property
    def precision(self) -> float:
        return self.num_correct / self.num_pred if self.num_pred else 0.0

    @property
    def recall(self) -> float:
        return self.num_correct / self.num_gold if self.num_gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "num_gold": self.num_gold,
            "num_pred": self.num_pred,
        }


def score_spans(gold: Sequence[Sequence[SpanLike]], predicted: Sequence[Sequence[SpanLike]], labels: frozenset[str] | None = None) -> Score:
    """Exact-match counts over parallel lists of per-sentence spans; ``labels`` keeps only those labels on both sides."""
    assert len(gold) == len(predicted), f"{len(gold)} gold sentences vs {len(predicted)} predicted"
    num_gold = num_pred = num_correct = 0
    for gold_spans, pred_spans in zip(gold, predicted):
        g = {(s.start, s.end, s.label) for s in gold_spans if labels is None or s.label in labels}
        p = {(s.start, s.end, s.label) for s in pred_spans if labels is None or s.label in labels}
        num_gold += len(g)
        num_pred += len(p)
        num_correct += len(g & p)
    return Score(num_gold, num_pred, num_correct)


def evaluate_corpora(corpora: dict[str, list[IOBSentence]], predict: Predictor) -> tuple[dict[str, Score], float]:
    """Score ``predict`` on every corpus (its own label filter); also the sentences per second it ran at.
    Corpora with the same sentences (BC5CDR and its chem/disease views) are predicted once."""
    scores: dict[str, Score] = {}
    cache: dict[tuple[str, ...], Sequence[Sequence[SpanLike]]] = {}
    num_sentences = 0
    elapsed = 0.0
    for name, sentences in corpora.items():
        texts = [s.text for s in sentences]
        key = tuple(texts)
        if key not in cache:
            started = time.perf_counter()
            cache[key] = predict(texts)
            elapsed += time.perf_counter() - started
            num_sentences += len(texts)
        labels = CORPUS_LABELS.get(name)
        scores[name] = score_spans([s.spans() for s in sentences], cache[key], labels)
    return scores, (num_sentences / elapsed if elapsed else 0.0)
