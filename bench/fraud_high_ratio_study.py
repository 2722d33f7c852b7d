"""A/B on a July validation split: label-free counts of a customer's earlier abnormally large transactions.

Scenario 3 (compromised credentials) multiplies a third of a customer's amounts by 5 over 14 days; the
candidate features count, per transaction, the customer's earlier transactions in the last 7 / 14 days
whose amount exceeded k times the customer's mean over the 7 days before them. Reads only rows before
``--until`` (2018-08-01: August is never read), fits on labels visible at ``--test-from`` (2018-07-01,
7-day label delay) with the app's TrainConfig, scores July; prints one JSON object (AP, AUC per variant).

Usage: ``PYTHONPATH=platform:. python bench/fraud_high_ratio_study.py --data FILE --k 3 5/2``
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
from fraud_common import BEFORE_HIGH_COUNTS, add_split_arguments, print_report, validation_split  # noqa: E402  (bench/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.fraud_detection.features.definition import DAY  # noqa: E402
from apps.fraud_detection.metrics import auc_roc, average_precision  # noqa: E402
from apps.fraud_detection.model import TrainConfig, train_model  # noqa: E402


def high_ratio_counts(agg: dict[str, np.ndarray], customers: np.ndarray, k: Fraction,
                      windows: tuple[int, ...], normal_mean: bool = False) -> dict[str, np.ndarray]:
    """Per row, the customer's earlier rows in (t - w days, t) with amount > k x their prior 7-day mean."""
    t, cents = agg["t"], agg["amount_cents"]
    prior_n, prior_sum = agg["customer_n_7d"] - 1, agg["customer_sum_7d"] - cents
    high = (prior_n > 0) & (cents * prior_n * k.denominator > k.numerator * prior_sum)
    codes = pd.factorize(customers)[0].astype("int64")
    order = np.argsort(codes, kind="stable")
    key = codes[order] * 2**35 + (t[order] - t.min() + 40 * DAY)
    sums = np.concatenate([[0], np.cumsum(high[order])])
    position = np.arange(len(key))
    out = {}
    for w in windows:
        values = sums[position] - sums[np.searchsorted(key, key - w * DAY, side="right")]
        back = np.empty(len(key), dtype="int64")
        back[order] = values
        out[f"CUSTOMER_NB_HIGH_RATIO_TX_{w}DAY"] = back.astype("float64")
    if normal_mean:  # the amount against the mean of the customer's earlier 30-day rows that were not high
        normal = ~high[order]
        n_sums = np.concatenate([[0], np.cumsum(normal)])
        c_sums = np.concatenate([[0], np.cumsum(np.where(normal, cents[order], 0))])
        lower = np.searchsorted(key, key - 30 * DAY, side="right")
        n, s = n_sums[position] - n_sums[lower], c_sums[position] - c_sums[lower]
        ratio = np.full(len(key), np.nan)
        np.divide(cents[order] * n, s, out=ratio, where=s > 0)
        back = np.empty(len(key))
        back[order] = ratio
        out["AMOUNT_TO_CUSTOMER_NORMAL_MEAN_30DAY"] = back
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    add_split_arguments(parser)
    parser.add_argument("--k", nargs="+", default=["3", "5/2"])
    parser.add_argument("--windows", type=int, nargs="+", default=[7, 14])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="booster seeds (0: the app's); the spread is the noise")
    args = parser.parse_args()
    started = time.perf_counter()
    split = validation_split(args.data, args.test_from, args.until)
    frame, agg, features, when, fit_rows, test = split.frame, split.agg, split.features, split.when, split.fit_rows, split.test
    labels = frame["TX_FRAUD"].to_numpy()
    scenarios = frame["TX_FRAUD_SCENARIO"].to_numpy()  # only to report recall per scenario, never an input
    report: dict[str, object] = {"load_average_start": os.getloadavg(), "num_test": int(test.sum()),
                                 "num_test_frauds": int((test & (labels == 1)).sum())}
    variants: dict[str, object] = {}
    candidates = list(args.k) if args.skip_baseline else ["baseline", *args.k]
    for k, seed in [(k, seed) for seed in args.seeds for k in candidates]:
        names = list(BEFORE_HIGH_COUNTS)
        frame_k = features
        if k != "baseline":
            extra = high_ratio_counts(agg, frame["CUSTOMER_ID"].to_numpy(), Fraction(k.rstrip("+")), tuple(args.windows),
                                       normal_mean=k.endswith("+"))
            frame_k = features.assign(**extra)
            names += list(extra)
        t0 = time.perf_counter()
        model = train_model(frame_k[fit_rows], labels[fit_rows], when[fit_rows], replace(TrainConfig(), features=tuple(names), seeds=(seed,)))
        proba = model.predict_proba(frame_k[test])
        top = np.argsort(-proba)
        entry: dict[str, object] = {
            "average_precision": round(average_precision(labels[test], proba), 4),
            "auc_roc": round(auc_roc(labels[test], proba), 4),
            "num_trees": model.info["num_trees"], "seconds": round(time.perf_counter() - t0, 1),
            "recall_at_p0.5_by_scenario": {str(s): round(float((proba[scenarios[test] == s] >= 0.5).mean()), 4) for s in (1, 2, 3)},
            "frauds_in_top_1000": int(labels[test][top[:1000]].sum()),
        }
        if k != "baseline":
            for name in extra:
                x = np.nan_to_num(frame_k[name].to_numpy()[test], nan=-1.0)  # no earlier row: lowest
                both = (labels[test] == 0) | (scenarios[test] == 3)
                entry[f"auc_s3_vs_genuine_{name}"] = round(auc_roc((scenarios[test][both] == 3).astype(int), x[both]), 4)
        label = k if seed == 0 else f"{k} seed {seed}"
        variants[label] = entry
        print(label, json.dumps(entry), file=sys.stderr, flush=True)
    report["variants"] = variants
    return print_report(report, started)


if __name__ == "__main__":
    sys.exit(main())
