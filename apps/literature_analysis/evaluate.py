"""The open SciFact setting: evidence retrieved from the whole corpus, then the claim check on the top
abstracts; PubMedQA accuracy; retrieval nDCG@10. Shared by ``moesaic eval literature_analysis`` and the
training run (which picks the pipeline settings on its inner development claims). No web stack.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from apps.literature_analysis.claimcheck import CheckSettings, Scorer, check_abstracts
from apps.literature_analysis.data import LABELS, PUBMEDQA_LABELS, Abstract, Claim, Question
from apps.literature_analysis.examples import question_context
from apps.literature_analysis.metrics import Prediction, classification_metrics, ndcg_at_k, scifact_metrics
from apps.literature_analysis.retrieve import Hit, LocalRetriever


@dataclass(frozen=True)
class PipelineSettings:
    docs_per_claim: int = 3  # top abstracts checked per claim
    min_retrieval_score: float = 0.0  # reranker probability below which an abstract is not checked
    check: CheckSettings = CheckSettings()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> "PipelineSettings":
        check = raw.get("check") or {}
        assert isinstance(check, dict)
        return cls(
            docs_per_claim=int(str(raw.get("docs_per_claim", 3))),
            min_retrieval_score=float(str(raw.get("min_retrieval_score", 0.0))),
            check=CheckSettings(**check),
        )


def retrieve_claims(retriever: LocalRetriever, claims: Sequence[Claim], top_k: int = 10) -> dict[int, list[Hit]]:
    return {claim.id: retriever.search(claim.text, top_k) for claim in claims}


def retrieval_ndcg(claims: Sequence[Claim], hits: dict[int, list[Hit]], k: int = 10) -> float:
    scores = [ndcg_at_k([h.doc_id for h in hits[c.id]], set(c.cited_doc_ids), k) for c in claims if c.cited_doc_ids]
    return sum(scores) / len(scores) if scores else 0.0


def predict_claims(
    claims: Sequence[Claim], corpus: dict[str, Abstract], hits: dict[int, list[Hit]], selector: Scorer, labeler: Scorer, settings: PipelineSettings
) -> dict[int, dict[str, Prediction]]:
    predictions: dict[int, dict[str, Prediction]] = {}
    for claim in claims:
        chosen = [h for h in hits[claim.id][: settings.docs_per_claim] if h.score >= settings.min_retrieval_score]
        verdicts = check_abstracts(claim.text, [corpus[h.doc_id] for h in chosen], selector, labeler, settings.check)
        predictions[claim.id] = {v.doc_id: (v.label, v.rationale) for v in verdicts}
    return predictions


def scifact_open(
    claims: Sequence[Claim], corpus: dict[str, Abstract], hits: dict[int, list[Hit]], selector: Scorer, labeler: Scorer, settings: PipelineSettings
) -> dict[str, float]:
    metrics = scifact_metrics(claims, predict_claims(claims, corpus, hits, selector, labeler, settings))
    metrics["retrieval_ndcg@10"] = retrieval_ndcg(claims, hits)
    return metrics


def pubmedqa_answers(questions: Sequence[Question], classifier: Scorer) -> list[str]:
    """yes/no/maybe per question; a claim labeler (classes SUPPORT/CONTRADICT/NEI) answers yes/no/maybe."""
    rows = classifier.probabilities([(q.question, question_context(q)) for q in questions])
    classes = tuple(getattr(getattr(classifier, "config", None), "classes", PUBMEDQA_LABELS))
    names = PUBMEDQA_LABELS if classes != LABELS else ("yes", "no", "maybe")  # SUPPORT, CONTRADICT, NEI in that order
    return [names[max(range(len(row)), key=lambda i: row[i])] for row in rows]


def pubmedqa_scores(questions: Sequence[Question], classifier: Scorer) -> dict[str, float]:
    predicted = pubmedqa_answers(questions, classifier)
    return classification_metrics([q.answer for q in questions], predicted, PUBMEDQA_LABELS)


def settings_grid(label_input: str) -> list[PipelineSettings]:
    grid = []
    for docs in (1, 2, 3, 5):
        for min_score in (0.0, 0.2, 0.5):
            for threshold in (0.3, 0.5, 0.7):
                for confidence in (0.0, 0.5, 0.7):
                    check = CheckSettings(threshold=threshold, label_input=label_input, min_label_confidence=confidence)
                    grid.append(PipelineSettings(docs, min_score, check))
    return grid


class CachedScorer:
    """Remembers each pair's probabilities (the settings grid asks the same pairs again)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.cache: dict[tuple[str, str], list[float]] = {}

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
        missing = list(dict.fromkeys(p for p in pairs if p not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.scorer.probabilities(missing)))
        return [self.cache[p] for p in pairs]
