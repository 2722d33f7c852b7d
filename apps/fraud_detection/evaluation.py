"""The evaluation that cannot leak: one history, train on labels visible at test-from, score after it.

Rows of the train and test frames, deduplicated by TRANSACTION_ID (the test frame's row wins), form
one history in time order. Features come from ``features.batch`` over that history: a label enters a
window exactly ``delay`` days after its transaction, never earlier (equal to online scoring in time
order, tests/apps/fraud_detection/test_features.py). The model is fitted only on rows dated before
``test_from - delay`` (their labels are visible at test_from) and is not refitted during the test
period; every row dated on or after ``test_from`` is scored. TX_FRAUD_SCENARIO is read only to
measure reason accuracy.

Not here: argument parsing (``cli``), reading files (``connectors.transactions``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import HANDBOOK_FEATURES, FeatureConfig
from apps.fraud_detection.metrics import (
    auc_roc, average_precision, card_precision_at_k, expected_calibration_error, reliability_table,
)
from apps.fraud_detection.model import FraudModel, TrainConfig, train_model
from apps.fraud_detection.reasons import reason_accuracy
from apps.fraud_detection.schema import SCENARIO_COLUMN


@dataclass
class EvaluationResult:
    """What one run measured; ``summary()`` is the JSON object the CLI prints last."""

    scores: pd.DataFrame  # TRANSACTION_ID, score, in time order
    metrics: dict[str, Any]
    model: FraudModel
    peer: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = dict(self.metrics)
        if self.peer:
            out["peer_handbook_xgboost"] = self.peer
        return out


def build_history(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Both frames as one history: deduplicated by TRANSACTION_ID (the test frame's row kept), time-sorted."""
    both = pd.concat([train, test], ignore_index=True)
    return sort_history(both.drop_duplicates("TRANSACTION_ID", keep="last"))


def _ranking_metrics(frame: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    labels = frame["TX_FRAUD"].to_numpy()
    labelled = labels >= 0
    cards = frame.loc[labelled, ["CUSTOMER_ID", "TX_DATETIME", "TX_FRAUD"]].assign(score=scores[labelled])
    return {"average_precision": average_precision(labels[labelled], scores[labelled]),
            "auc_roc": auc_roc(labels[labelled], scores[labelled]),
            "card_precision_at_100": card_precision_at_k(cards, 100)[0]}


def evaluate(train: pd.DataFrame, test: pd.DataFrame, test_from: datetime, *, label_delay_days: int = 7,
             config: TrainConfig | None = None, out: Path | None = None, with_peer: bool = False) -> EvaluationResult:
    """Run the protocol on validated frames; write ``TRANSACTION_ID,score`` to ``out`` when given."""
    config = config or TrainConfig()
    feature_config = FeatureConfig(label_delay_days=label_delay_days)
    history = build_history(train, test)
    started = time.perf_counter()
    features = compute_features(history, feature_config)
    feature_seconds = time.perf_counter() - started
    when = history["TX_DATETIME"]
    cutoff = pd.Timestamp(test_from) - pd.Timedelta(days=label_delay_days)
    fit_rows = ((when < cutoff) & (history["TX_FRAUD"] >= 0)).to_numpy()
    scored = (when >= pd.Timestamp(test_from)).to_numpy()
    if not scored.any():
        raise ValueError(f"no transaction dated on or after test-from {test_from}")
    labels = history["TX_FRAUD"].to_numpy()
    started = time.perf_counter()
    model = train_model(features[fit_rows], labels[fit_rows], when[fit_rows], config)
    train_seconds = time.perf_counter() - started
    test_frame, test_features = history[scored], features[scored]
    started = time.perf_counter()
    probabilities = model.predict_proba(test_features)
    predict_seconds = time.perf_counter() - started
    metrics: dict[str, Any] = _ranking_metrics(test_frame, probabilities)
    frauds = (test_frame["TX_FRAUD"] == 1).to_numpy()
    if SCENARIO_COLUMN in test_frame.columns and frauds.any():
        contributions = model.contributions(test_features[frauds])
        scenarios = test_frame[SCENARIO_COLUMN].to_numpy()[frauds]
        metrics["reason_accuracy"] = reason_accuracy(contributions, scenarios)
        # the same on frauds the model flags (p >= 0.5): a terminal in its first `delay` days of compromise
        # has no visible evidence, so its frauds are missed and their reasons cannot name it
        flagged = probabilities[frauds] >= 0.5
        metrics["reason_accuracy_flagged"] = reason_accuracy(contributions[flagged], scenarios[flagged])
        # scenario 2's ceiling: the share of its frauds whose terminal has a known (visible) fraud in the last
        # delay + 30 days; the simulator leaves no label-free trace (docs/BENCHMARKS.md, 2026-12-01 study)
        visible = test_features["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"].notna().to_numpy()[frauds]
        second = scenarios == 2
        metrics["scenario_2_terminal_fraud_visible"] = float(visible[second].mean()) if second.any() else None
        metrics["reason_accuracy_2_terminal_fraud_visible"] = (
            reason_accuracy(contributions[visible], scenarios[visible])["2"] if (second & visible).any() else None)
    else:
        metrics["reason_accuracy"] = {"1": None, "2": None, "3": None}
    num_scored = int(scored.sum())
    # features are computed over the whole history (the windows need it): charged in full to the scored rows
    share = feature_seconds * num_scored / len(history)
    metrics.update({"num_scored": num_scored, "train_seconds": round(train_seconds, 2),
                    "score_tx_per_s": round(num_scored / (share + predict_seconds)),
                    "score_tx_per_s_whole_history_features": round(num_scored / (feature_seconds + predict_seconds)),
                    "num_train_rows": int(fit_rows.sum()), "train_until": str(cutoff), "model_version": model.version})
    labelled = test_frame["TX_FRAUD"].to_numpy() >= 0
    table = reliability_table(test_frame["TX_FRAUD"].to_numpy()[labelled], probabilities[labelled])
    metrics["expected_calibration_error"] = expected_calibration_error(table)
    metrics["reliability_test"] = table
    scores = pd.DataFrame({"TRANSACTION_ID": test_frame["TRANSACTION_ID"].to_numpy(), "score": probabilities})
    if out is not None:
        scores.to_csv(out, index=False)
    peer: dict[str, Any] = {}
    if with_peer:
        # a plain XGBoost: one booster (the first seed), the Handbook's features, no amount-first stage
        peer_config = replace(config, features=tuple(HANDBOOK_FEATURES), amount_first_rounds=0, seeds=config.seeds[:1])
        started = time.perf_counter()
        peer_model = train_model(features[fit_rows], labels[fit_rows], when[fit_rows], peer_config)
        peer = {**_ranking_metrics(test_frame, peer_model.predict_proba(test_features)),
                "train_seconds": round(time.perf_counter() - started, 2), "features": "Handbook 15",
                "num_trees": peer_model.info["num_trees"]}
    return EvaluationResult(scores, metrics, model, peer)
