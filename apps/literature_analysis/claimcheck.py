"""Claim check over abstracts with the two trained cross-encoders.

For every abstract: the rationale selector scores each (claim, sentence) pair; the sentences above
``threshold`` (at most ``max_rationales``, best first, returned in document order) are the rationale.
The label model then reads the claim with the rationale (``label_input="rationale"``: no rationale means
NOT_ENOUGH_INFO) or with the whole abstract (``"abstract"``; a SUPPORT/CONTRADICT abstract without a
sentence above the threshold cites its best-scoring one). ``overall_verdict`` combines the abstracts.
No web stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from apps.literature_analysis.data import LABELS, Abstract


class Scorer(Protocol):
    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[list[float]]: ...


@dataclass(frozen=True)
class CheckSettings:
    threshold: float = 0.5
    max_rationales: int = 3
    label_input: str = "rationale"  # "rationale" | "abstract"
    min_label_confidence: float = 0.0  # below it an abstract's label becomes NOT_ENOUGH_INFO


@dataclass(frozen=True)
class AbstractVerdict:
    doc_id: str
    label: str
    confidence: float
    rationale: tuple[int, ...]  # sentence indices, document order
    sentence_scores: tuple[float, ...]
    label_probabilities: dict[str, float]


def abstract_input(doc: Abstract) -> str:
    return " ".join([doc.title, *doc.sentences]) if doc.title else doc.text


def check_abstracts(claim: str, docs: Sequence[Abstract], selector: Scorer, labeler: Scorer, settings: CheckSettings = CheckSettings()) -> list[AbstractVerdict]:
    pairs = [(claim, sentence) for doc in docs for sentence in doc.sentences]
    flat = [p[1] for p in selector.probabilities(pairs)] if pairs else []
    scores: list[list[float]] = []
    cursor = 0
    for doc in docs:
        scores.append(flat[cursor : cursor + len(doc.sentences)])
        cursor += len(doc.sentences)
    rationales: list[list[int]] = []
    for doc_scores in scores:
        ranked = sorted(range(len(doc_scores)), key=lambda i: -doc_scores[i])
        rationales.append(sorted(i for i in ranked[: settings.max_rationales] if doc_scores[i] >= settings.threshold))
    label_pairs: list[tuple[str, str]] = []
    needs_label: list[int] = []
    for position, (doc, chosen) in enumerate(zip(docs, rationales)):
        if settings.label_input == "abstract":
            label_pairs.append((claim, abstract_input(doc)))
            needs_label.append(position)
        elif chosen:
            label_pairs.append((claim, " ".join(doc.sentences[i] for i in chosen)))
            needs_label.append(position)
    probabilities = dict(zip(needs_label, labeler.probabilities(label_pairs) if label_pairs else []))
    verdicts = []
    for position, (doc, chosen, doc_scores) in enumerate(zip(docs, rationales, scores)):
        if position not in probabilities:
            best = max(doc_scores, default=0.0)
            nei = {"SUPPORT": 0.0, "CONTRADICT": 0.0, "NOT_ENOUGH_INFO": 1.0 - best}
            verdicts.append(AbstractVerdict(doc.doc_id, "NOT_ENOUGH_INFO", 1.0 - best, (), tuple(doc_scores), nei))
            continue
        row = dict(zip(LABELS, probabilities[position]))
        label = max(LABELS, key=lambda name: row[name])
        if label != "NOT_ENOUGH_INFO" and row[label] < settings.min_label_confidence:
            label = "NOT_ENOUGH_INFO"
        if label != "NOT_ENOUGH_INFO" and not chosen and doc_scores:
            chosen = [max(range(len(doc_scores)), key=lambda i: doc_scores[i])]
        rationale = tuple(chosen) if label != "NOT_ENOUGH_INFO" else ()
        verdicts.append(AbstractVerdict(doc.doc_id, label, row[label], rationale, tuple(doc_scores), row))
    return verdicts


def overall_verdict(verdicts: Sequence[AbstractVerdict]) -> tuple[str, float]:
    """SUPPORT or CONTRADICT when the abstracts that take a side agree, MIXED when they disagree,
    NOT_ENOUGH_INFO when none does; the confidence is the side's summed confidence over all sides'."""
    weight = {"SUPPORT": 0.0, "CONTRADICT": 0.0}
    for verdict in verdicts:
        if verdict.label in weight:
            weight[verdict.label] += verdict.confidence
    total = weight["SUPPORT"] + weight["CONTRADICT"]
    if total == 0:
        confidences = [v.confidence for v in verdicts]
        return "NOT_ENOUGH_INFO", (sum(confidences) / len(confidences) if confidences else 1.0)
    if weight["SUPPORT"] and weight["CONTRADICT"]:
        return "MIXED", max(weight.values()) / total
    side = "SUPPORT" if weight["SUPPORT"] else "CONTRADICT"
    return side, sum(v.confidence for v in verdicts if v.label == side) / sum(1 for v in verdicts if v.label == side)
