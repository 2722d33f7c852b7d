"""SciFact's official metrics (abstract- and sentence-level, as the SciFact paper defines them) and nDCG@10.

Predictions: claim id -> doc id -> (label, rationale sentence indices). Predictions labelled
NOT_ENOUGH_INFO count as no prediction. Abstract level: a predicted abstract is correct (label only) when
it is gold evidence and the label matches; rationalized when, in addition, its first 3 rationale sentences
contain a whole gold rationale. Sentence level: a predicted sentence is correctly selected when it lies in
a gold rationale all of whose sentences were predicted; for "selection+label" the abstract's label must
match too. Precision, recall and F1 over all claims (micro). No torch.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from apps.literature_analysis.data import Claim

Prediction = tuple[str, Sequence[int]]  # (label, rationale sentence indices)
MAX_ABSTRACT_SENTENCES = 3


def _f1(correct: int, predicted: int, relevant: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def scifact_metrics(claims: Sequence[Claim], predictions: Mapping[int, Mapping[str, Prediction]]) -> dict[str, float]:
    counts = dict.fromkeys(
        ("abs_pred", "abs_gold", "abs_label", "abs_rationalized", "sent_pred", "sent_gold", "sent_sel", "sent_sel_label"), 0
    )
    for claim in claims:
        for evidence in claim.evidence.values():
            counts["abs_gold"] += 1
            counts["sent_gold"] += len(evidence.sentences)
        for doc_id, (label, sentences) in predictions.get(claim.id, {}).items():
            if label == "NOT_ENOUGH_INFO":
                continue
            predicted = list(dict.fromkeys(int(i) for i in sentences))
            counts["abs_pred"] += 1
            counts["sent_pred"] += len(predicted)
            gold = claim.evidence.get(str(doc_id))
            if gold is None:
                continue
            label_ok = label == gold.label
            if label_ok:
                counts["abs_label"] += 1
                first = set(predicted[:MAX_ABSTRACT_SENTENCES])
                if any(set(group) <= first for group in gold.sentence_sets):
                    counts["abs_rationalized"] += 1
            chosen = set(predicted)
            for index in predicted:
                if any(index in group and set(group) <= chosen for group in gold.sentence_sets):
                    counts["sent_sel"] += 1
                    counts["sent_sel_label"] += int(label_ok)
    out: dict[str, float] = {}
    for name, correct_key, predicted_key, relevant_key in (
        ("abstract_label_only", "abs_label", "abs_pred", "abs_gold"),
        ("abstract_rationalized", "abs_rationalized", "abs_pred", "abs_gold"),
        ("sentence_selection", "sent_sel", "sent_pred", "sent_gold"),
        ("sentence_selection_label", "sent_sel_label", "sent_pred", "sent_gold"),
    ):
        scores = _f1(counts[correct_key], counts[predicted_key], counts[relevant_key])
        out[f"{name}_precision"] = scores["precision"]
        out[f"{name}_recall"] = scores["recall"]
        out[f"{name}_f1"] = scores["f1"]
    return out


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def classification_metrics(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0
    f1s = []
    for name in classes:
        tp = sum(g == name and p == name for g, p in zip(gold, predicted))
        f1s.append(_f1(tp, sum(p == name for p in predicted), sum(g == name for g in gold))["f1"])
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0}
