"""July validation of booster-seed noise and seed bagging, for the baseline and the k = 3 high-ratio counts.

Same split as ``fraud_high_ratio_study.py`` (whose ``high_ratio_counts`` builds variant A): keeps only rows
before ``--until`` (2018-08-01: August's rows are dropped before any feature or label is used), fits the app's
``TrainConfig`` with booster seed s on labels visible at ``--test-from`` (2018-07-01, 7-day delay), scores July. For each variant and seed it records
AP, AUC, training and scoring seconds; a bag is the mean of the calibrated probabilities of the boosters of
one seed triple (each booster keeps its own Platt calibration); the mean of their raw margins is reported
beside it (one Platt fit on a mean margin would not change its ranking, so its AP is the margins' own).
Prints one JSON object.

Not here: any change to the app; the decision (docs/BENCHMARKS.md, criterion fixed before the run).

Usage: ``PYTHONPATH=platform:. python bench/fraud_seed_bagging_study.py --data FILE``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from fraud_common import BEFORE_HIGH_COUNTS, add_split_arguments, print_report, validation_split  # noqa: E402  (bench/ is the script's folder)
from fraud_high_ratio_study import high_ratio_counts  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.fraud_detection.metrics import auc_roc, average_precision  # noqa: E402
from apps.fraud_detection.model import TrainConfig, train_model  # noqa: E402


def summary(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and range of a few scores."""
    array = np.asarray(values)
    return {"mean": round(float(array.mean()), 4), "std": round(float(array.std(ddof=1)), 4) if len(array) > 1 else 0.0,
            "min": round(float(array.min()), 4), "max": round(float(array.max()), 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    add_split_arguments(parser)
    parser.add_argument("--variants", nargs="+", default=["baseline", "3"], help="'baseline' or k of the high-ratio counts")
    parser.add_argument("--single-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--bags", nargs="+", default=["0,1,2", "3,4,5", "6,7,8"], help="disjoint seed triples")
    args = parser.parse_args()
    bags = [tuple(int(s) for s in bag.split(",")) for bag in args.bags]
    started = time.perf_counter()
    split = validation_split(args.data, args.test_from, args.until)
    frame, agg, features, when, fit_rows, test = split.frame, split.agg, split.features, split.when, split.fit_rows, split.test
    labels = frame["TX_FRAUD"].to_numpy()
    y = labels[test]
    frames: dict[str, tuple[pd.DataFrame, list[str]]] = {}
    for variant in args.variants:
        if variant == "baseline":
            frames[variant] = (features, list(BEFORE_HIGH_COUNTS))
        else:
            extra = high_ratio_counts(agg, frame["CUSTOMER_ID"].to_numpy(), Fraction(variant), (7, 14))
            frames[variant] = (features.assign(**extra), list(BEFORE_HIGH_COUNTS) + list(extra))
    # singles first (every variant per seed), then the remaining bag seeds variant by variant, so a cut run still has them
    extra_seeds = sorted({s for bag in bags for s in bag} - set(args.single_seeds))
    jobs = [(v, s) for s in args.single_seeds for v in args.variants] + [(v, s) for v in args.variants for s in extra_seeds]
    proba: dict[tuple[str, int], np.ndarray] = {}
    margin: dict[tuple[str, int], np.ndarray] = {}
    runs: dict[str, dict[str, float]] = {}
    for variant, seed in jobs:
        frame_v, names = frames[variant]
        load = os.getloadavg()[0]
        model = train_model(frame_v[fit_rows], labels[fit_rows], when[fit_rows], replace(TrainConfig(), features=tuple(names), seeds=(seed,)))
        t0 = time.perf_counter()
        proba[variant, seed] = model.predict_proba(frame_v[test])
        score_seconds = time.perf_counter() - t0
        margin[variant, seed] = model.members[0].booster.predict(
            xgb.DMatrix(frame_v[test][names].to_numpy(dtype="float32"), feature_names=names), output_margin=True)
        entry = {
            "average_precision": round(average_precision(y, proba[variant, seed]), 4),
            "auc_roc": round(auc_roc(y, proba[variant, seed]), 4), "num_trees": float(model.info["num_trees"]),
            "train_seconds": float(model.info["train_seconds"]), "score_seconds": round(score_seconds, 2),
            "load_average_1min": round(load, 2)}
        runs[f"{variant} seed {seed}"] = entry
        print(variant, seed, json.dumps(entry), file=sys.stderr, flush=True)
    report: dict[str, object] = {"num_test": int(test.sum()), "num_test_frauds": int(y.sum()), "runs": runs}
    for variant in args.variants:
        singles = [runs[f"{variant} seed {s}"] for s in args.single_seeds]
        bagged: dict[str, dict[str, float]] = {}
        for bag in bags:
            if all((variant, s) in proba for s in bag):
                p = np.mean([proba[variant, s] for s in bag], axis=0)
                m = np.mean([margin[variant, s] for s in bag], axis=0)
                bagged[",".join(map(str, bag))] = {
                    "average_precision": round(average_precision(y, p), 4), "auc_roc": round(auc_roc(y, p), 4),
                    "mean_margin_average_precision": round(average_precision(y, m), 4)}
        report[variant] = {
            "single_average_precision": summary([e["average_precision"] for e in singles]),
            "single_auc_roc": summary([e["auc_roc"] for e in singles]),
            "bags": bagged,
            "bag_average_precision": summary([b["average_precision"] for b in bagged.values()]) if bagged else None,
            "bag_auc_roc": summary([b["auc_roc"] for b in bagged.values()]) if bagged else None,
            "train_seconds": summary([e["train_seconds"] for k, e in runs.items() if k.startswith(variant + " ")]),
            "score_seconds": summary([e["score_seconds"] for k, e in runs.items() if k.startswith(variant + " ")]),
        }
    return print_report(report, started)


if __name__ == "__main__":
    sys.exit(main())
