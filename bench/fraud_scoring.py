"""Benchmark: batch scoring throughput including features, and one-transaction online scoring latency.

Usage: .venv/bin/python bench/fraud_scoring.py --data FILE [--model apps/fraud_detection/artefact] [--online 2000]
Batch: validated frame in memory -> sort -> features over the whole history -> calibrated scores.
(Reading and validating the file is timed separately.) Online: a FeatureState built from the history
before the last day, then each transaction of the last day scored one at a time (features from the
state + booster + calibration), then added. Prints one JSON line; the CPU is named from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.online import FeatureState
from apps.fraud_detection.model import FraudModel
from apps.fraud_detection.training import ARTEFACT
from connectors.transactions import read_transactions_file


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=ARTEFACT)
    parser.add_argument("--online", type=int, default=2000, help="transactions scored one at a time")
    args = parser.parse_args()
    model = FraudModel.load(args.model)
    started = time.perf_counter()
    frame = read_transactions_file(args.data)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    history = sort_history(frame)
    features = compute_features(history)
    feature_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = model.predict_proba(features)
    predict_seconds = time.perf_counter() - started
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
    ms = np.array(latencies) * 1000
    print(json.dumps({
        "cpu": cpu_name(), "num_cpus": os.cpu_count(), "num_transactions": n, "model_version": model.version,
        "read_validate_seconds": round(read_seconds, 2), "feature_seconds": round(feature_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "batch_tx_per_s_features_and_scores": round(n / (feature_seconds + predict_seconds)),
        "batch_tx_per_s_including_read": round(n / (read_seconds + feature_seconds + predict_seconds)),
        "online_p50_ms": round(float(np.percentile(ms, 50)), 3), "online_p99_ms": round(float(np.percentile(ms, 99)), 3),
        "num_online": len(ms), "mean_score": float(scores.mean()),
    }))


if __name__ == "__main__":
    main()
