"""Benchmark: batch scoring throughput including features (without and with reasons), and one-transaction
online scoring latency, in process.

Usage: .venv/bin/python bench/fraud_scoring.py [--data FILE] [--model apps/fraud_detection/artefact] [--online 2000]
Without ``--data`` a simulated history (``fraud_common.transactions``) is scored.
Batch: validated frame in memory -> sort -> features over the whole history -> calibrated scores; then the
batch job's scoring step (``batch_scoring.score_with_reasons``: scores, TreeSHAP and the first reason in
words for the scores >= 0.05). Reading and validating the file is timed separately. Online: a FeatureState
built from the history before the last day, then each transaction of the last day scored one at a time
(features from the state + boosters + calibrations), then added. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from fraud_common import machine, percentiles_ms, transactions

from apps.fraud_detection.batch_scoring import REASONS_MIN_SCORE, THREADS, score_with_reasons
from apps.fraud_detection.features.batch import compute_features
from apps.fraud_detection.features.online import FeatureState
from apps.fraud_detection.model import FraudModel
from apps.fraud_detection.training import ARTEFACT


def timed(work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path)
    parser.add_argument("--model", type=Path, default=ARTEFACT)
    parser.add_argument("--online", type=int, default=2000, help="transactions scored one at a time")
    args = parser.parse_args()
    model = FraudModel.load(args.model).with_threads(THREADS)
    history, read_seconds = timed(lambda: transactions(args.data))
    features, feature_seconds = timed(lambda: compute_features(history))
    scores, predict_seconds = timed(lambda: model.predict_proba(features))
    with_reasons, reasons_seconds = timed(lambda: score_with_reasons(model, features))
    explained = int((with_reasons["score"] >= REASONS_MIN_SCORE).sum())
    n = len(history)
    last_day = history["TX_DATETIME"] >= history["TX_DATETIME"].max().floor("D")
    state = FeatureState.from_history(history[~last_day].tail(400_000))
    latencies = []
    for row in history[last_day].head(args.online).itertuples(index=False):
        tx = (int(row.TRANSACTION_ID), row.TX_DATETIME, int(row.CUSTOMER_ID), int(row.TERMINAL_ID), float(row.TX_AMOUNT))
        t0 = time.perf_counter()
        online = state.features(*tx)
        model.predict_proba(pd.DataFrame([online]))
        state.add(*tx)
        latencies.append(time.perf_counter() - t0)
    print(json.dumps({
        **machine(), "data": str(args.data or "simulated"), "num_transactions": n, "model_version": model.version,
        "read_validate_seconds": round(read_seconds, 2), "feature_seconds": round(feature_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "batch_tx_per_s_features_and_scores": round(n / (feature_seconds + predict_seconds)),
        "batch_tx_per_s_including_read": round(n / (read_seconds + feature_seconds + predict_seconds)),
        "scores_with_reasons_seconds": round(reasons_seconds, 2), "num_explained": explained,
        "batch_tx_per_s_features_scores_and_reasons": round(n / (feature_seconds + reasons_seconds)),
        **{f"online_{k}": v for k, v in percentiles_ms(latencies).items() if k.startswith(("p50", "p99"))},
        "num_online": len(latencies), "mean_score": float(scores.mean()),
    }))


if __name__ == "__main__":
    main()
