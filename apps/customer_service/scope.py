"""Out-of-scope routing: is a customer's message something retail support should handle?

A multinomial logistic regression over MiniLM sentence embeddings (``moesaic.retrieval.default_embedder``)
with 152 labels: the 150 clinc150 intents, clinc150's ``oos`` and our own ``retail_support`` (trained
on ``seed/retail_utterances.txt``, written for this app). A message whose best probability is below
a threshold is also out of scope; the threshold is chosen on held-out *training* data so that 5% of
in-scope messages fall below it (no out-of-scope data and no validation data is used to tune it).

For retail, "in scope" means the label is ``retail_support`` or one of the few clinc intents a retail
conversation needs (order status, greetings, yes/no confirmations ...): see ``RETAIL_INTENTS``.

The trained weights (``seed/scope_model.npz``, float16, about 120 kB) are committed; ``python -m
apps.customer_service.scope train`` rebuilds them from clinc150 under the datasets dir and prints the
evaluation. Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED_DIR = Path(__file__).parent / "seed"
MODEL_PATH = SEED_DIR / "scope_model.npz"
RETAIL_UTTERANCES_PATH = SEED_DIR / "retail_utterances.txt"
RETAIL_LABEL = "retail_support"
OOS_LABEL = "oos"
# clinc150 intents that belong in a retail-support conversation besides retail requests themselves.
RETAIL_INTENTS = frozenset(
    {
        RETAIL_LABEL,
        "order_status",
        "order",
        "greeting",
        "goodbye",
        "thank_you",
        "yes",
        "no",
        "maybe",
        "cancel",
        "repeat",
        "are_you_a_bot",
        "what_can_i_ask_you",
    }
)
IN_SCOPE_QUANTILE = 0.05


@dataclass(frozen=True)
class ScopeDecision:
    intent: str  # the best label, or "oos" when the model is not confident enough
    confidence: float
    is_in_scope: bool  # in scope for retail support


class ScopeRouter:
    """Classify messages with the committed weights; ``embedder`` defaults to the shared MiniLM."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, labels: list[str], threshold: float,
                 embedder: Any = None) -> None:
        assert weights.ndim == 2 and weights.shape[0] == len(labels) == bias.shape[0], "weights [C, D], bias [C]"
        self.weights = weights.astype(np.float32)  # [C, D]
        self.bias = bias.astype(np.float32)  # [C]
        self.labels = labels
        self.threshold = float(threshold)
        self._embedder = embedder

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from moesaic.retrieval import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @classmethod
    def load(cls, path: Path = MODEL_PATH, embedder: Any = None) -> "ScopeRouter":
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(data["weights"], data["bias"], meta["labels"], meta["threshold"], embedder)

    def save(self, path: Path = MODEL_PATH) -> None:
        meta = json.dumps({"labels": self.labels, "threshold": self.threshold})
        np.savez_compressed(path, weights=self.weights.astype(np.float16), bias=self.bias.astype(np.float16),
                            meta=np.array(meta))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.weights.T + self.bias  # [N, C]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_vectors(self, vectors: np.ndarray) -> list[ScopeDecision]:
        probs = self.probabilities(vectors)
        decisions = []
        for row in probs:
            best = int(row.argmax())
            intent = self.labels[best] if row[best] >= self.threshold else OOS_LABEL
            decisions.append(ScopeDecision(intent, float(row[best]), intent in RETAIL_INTENTS))
        return decisions

    def classify(self, texts: Sequence[str]) -> list[ScopeDecision]:
        return self.predict_vectors(self.embedder.embed_documents(list(texts)))

    def is_in_scope(self, text: str) -> bool:
        return self.classify([text])[0].is_in_scope


def load_clinc(clinc_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """clinc150's ``data_full_dev.json``: train, val, oos_train, oos_val as (text, intent) pairs."""
    with open(clinc_dir / "data_full_dev.json", encoding="utf-8") as handle:
        raw = json.load(handle)
    return {split: [(text, intent) for text, intent in rows] for split, rows in raw.items()}


def load_retail_utterances(path: Path = RETAIL_UTTERANCES_PATH) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _fit(vectors: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=20.0, max_iter=300)
    model.fit(vectors, labels)
    return model.coef_, model.intercept_, [str(c) for c in model.classes_]


def train(clinc_dir: Path, embedder: Any = None, *, seed: int = 0) -> ScopeRouter:
    """Fit on clinc150 train + oos_train + our retail utterances; tune the threshold on held-out train."""
    data = load_clinc(clinc_dir)
    rows = data["train"] + data["oos_train"] + [(text, RETAIL_LABEL) for text in load_retail_utterances()]
    texts, labels = [t for t, _ in rows], [label for _, label in rows]
    router = ScopeRouter(np.zeros((1, 1)), np.zeros(1), ["x"], 0.0, embedder)
    vectors = router.embedder.embed_documents(texts)  # [N, 384]

    rng = np.random.default_rng(seed)
    held_out = rng.random(len(texts)) < 0.1
    weights, bias, classes = _fit(vectors[~held_out], [label for label, h in zip(labels, held_out) if not h])
    probe = ScopeRouter(weights, bias, classes, 0.0, router.embedder)
    in_scope = np.array([h and label != OOS_LABEL for label, h in zip(labels, held_out)])
    best = probe.probabilities(vectors[in_scope]).max(axis=1)
    threshold = float(np.quantile(best, IN_SCOPE_QUANTILE))

    weights, bias, classes = _fit(vectors, labels)
    return ScopeRouter(weights, bias, classes, threshold, router.embedder)


def evaluate(router: ScopeRouter, clinc_dir: Path, retail_requests: list[str] | None = None) -> dict[str, Any]:
    """clinc150 validation: in-scope intent accuracy and out-of-scope recall (the standard pair), plus
    how often the retail router keeps retail requests and turns away everything else."""
    data = load_clinc(clinc_dir)
    val, oos = data["val"], data["oos_val"]
    val_pred = router.classify([t for t, _ in val])
    oos_pred = router.classify([t for t, _ in oos])
    metrics: dict[str, Any] = {
        "in_scope_accuracy": float(np.mean([p.intent == label for p, (_, label) in zip(val_pred, val)])),
        "oos_recall": float(np.mean([p.intent == OOS_LABEL for p in oos_pred])),
        "num_in_scope": len(val),
        "num_oos": len(oos),
        "threshold": router.threshold,
    }
    non_retail = [p for p, (_, label) in zip(val_pred, val) if label not in RETAIL_INTENTS] + oos_pred
    metrics["retail_router_rejects_non_retail"] = float(np.mean([not p.is_in_scope for p in non_retail]))
    if retail_requests:
        kept = router.classify(retail_requests)
        metrics["retail_router_keeps_retail_requests"] = float(np.mean([p.is_in_scope for p in kept]))
        metrics["num_retail_requests"] = len(retail_requests)
    return metrics


def tau2_requests(tau2_dir: Path) -> list[str]:
    """Each training task's reason for calling: real retail requests the router must keep."""
    path = tau2_dir / "tasks_train.json"
    if not path.is_file():
        return []
    tasks = json.loads(path.read_text(encoding="utf-8"))
    return [t["user_scenario"]["instructions"]["reason_for_call"] for t in tasks]


def main(argv: Sequence[str] | None = None) -> int:
    from moesaic.config import Settings

    parser = argparse.ArgumentParser(prog="python -m apps.customer_service.scope")
    parser.add_argument("command", choices=["train", "evaluate"])
    parser.add_argument("--datasets-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    datasets = args.datasets_dir or Path(Settings().datasets_dir)
    if args.command == "train":
        router = train(datasets / "clinc150")
        router.save()
        print(f"saved {MODEL_PATH} ({MODEL_PATH.stat().st_size} bytes)")
    router = ScopeRouter.load()
    print(json.dumps(evaluate(router, datasets / "clinc150", tau2_requests(datasets / "tau2_retail")), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
