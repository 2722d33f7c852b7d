"""Reason accuracy study on a validation split before August: what limits it, and which change helps.

Reads only rows dated before ``--until`` (default 2018-08-01: August, the month reported once, is never
read here). Fits the model on labels visible at ``--test-from`` (default 2018-07-01, so April to late
June) and scores the month after it (July). Prints one JSON object: per recipe (``--amount-rounds``),
AP, ECE and reason accuracy under several attribution rules, the scenario-2 cap (share of scenario-2
frauds whose terminal has a known fraud visible at the time), and how much a label-free terminal
signal tells the hidden scenario-2 frauds from genuine transactions.

Usage: ``PYTHONPATH=platform:. python bench/fraud_reason_study.py --data FILE [--amount-rounds 40 80]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.fraud_detection.features.batch import compute_features, sort_history, to_seconds  # noqa: E402
from apps.fraud_detection.features.definition import DAY, FeatureConfig  # noqa: E402
from apps.fraud_detection.metrics import (  # noqa: E402
    auc_roc, average_precision, expected_calibration_error, reliability_table,
)
from apps.fraud_detection.model import TrainConfig, train_model  # noqa: E402
from apps.fraud_detection.reasons import SCENARIO_KIND, kinds_of  # noqa: E402
from connectors.transactions import read_transactions_file  # noqa: E402


def first_kind(contributions: pd.DataFrame, rule: str) -> np.ndarray:
    kinds = pd.Series(kinds_of(list(contributions.columns)))
    if rule == "group_positive_sum":  # the app's rule
        return contributions.clip(lower=0.0).T.groupby(kinds).sum().T.idxmax(axis=1).to_numpy()
    if rule == "group_signed_sum":
        return contributions.T.groupby(kinds).sum().T.idxmax(axis=1).to_numpy()
    if rule == "strongest_feature":
        return kinds[contributions.idxmax(axis=1).to_numpy()].to_numpy()
    raise ValueError(rule)


def accuracy(first: np.ndarray, scenarios: np.ndarray, rows: np.ndarray | None = None) -> dict[str, float]:
    out = {}
    for scenario, kind in SCENARIO_KIND.items():
        mask = (scenarios == scenario) & (rows if rows is not None else True)
        out[str(scenario)] = round(float(np.mean(first[mask] == kind)), 4) if mask.any() else float("nan")
    return out


def terminal_flag_count(history: pd.DataFrame, flagged: np.ndarray, days: int) -> np.ndarray:
    """Per row, how many earlier transactions of its terminal in the last ``days`` were flagged (label-free)."""
    t = to_seconds(history["TX_DATETIME"])
    codes = pd.factorize(history["TERMINAL_ID"].to_numpy())[0].astype("int64")
    order = np.lexsort((t, codes))
    key = codes[order] * 2**35 + (t[order] - t.min())
    sums = np.concatenate([[0], np.cumsum(flagged[order])])
    position = np.arange(len(key))
    lower = np.searchsorted(key, key - days * DAY, side="right")
    values = sums[position] - sums[lower]  # earlier rows only
    out = np.empty(len(key), dtype="int64")
    out[order] = values
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--test-from", default="2018-07-01")
    parser.add_argument("--until", default="2018-08-01")
    parser.add_argument("--amount-rounds", type=int, nargs="+", default=[40])
    parser.add_argument("--amount-depth", type=int, default=2)
    parser.add_argument("--skip-label-free", action="store_true", help="skip the flagged-terminal signal (a full predict)")
    args = parser.parse_args()
    started = time.perf_counter()
    frame = read_transactions_file(args.data)
    frame = sort_history(frame[frame["TX_DATETIME"] < pd.Timestamp(args.until)])
    config = FeatureConfig()
    features = compute_features(frame, config)
    when = frame["TX_DATETIME"]
    test_from = pd.Timestamp(args.test_from)
    fit_rows = ((when < test_from - pd.Timedelta(days=config.label_delay_days)) & (frame["TX_FRAUD"] >= 0)).to_numpy()
    test = (when >= test_from).to_numpy()
    labels = frame["TX_FRAUD"].to_numpy()
    scenarios = frame["TX_FRAUD_SCENARIO"].to_numpy()
    frauds = test & (labels == 1)
    visible = ~np.isnan(features["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"].to_numpy())  # a known terminal fraud in 37 days
    s2 = frauds & (scenarios == 2)
    report: dict[str, object] = {
        "load_average_start": os.getloadavg(), "num_test": int(test.sum()), "num_test_frauds": int(frauds.sum()),
        "test_frauds_per_scenario": {str(s): int((frauds & (scenarios == s)).sum()) for s in (1, 2, 3)},
        "scenario2_cap_terminal_fraud_visible": round(float(visible[s2].mean()), 4),
    }
    # label-free traces of a compromised terminal: hidden scenario-2 frauds vs genuine rows with no visible terminal fraud
    hidden = s2 & ~visible
    genuine = test & (labels == 0) & ~visible
    both = hidden | genuine
    report["label_free_auc_hidden_s2_vs_genuine"] = {
        name: round(auc_roc(hidden[both].astype(int), features[name].to_numpy()[both]), 4)
        for name in ("TERMINAL_ID_ACTIVITY_1DAY", "TERMINAL_ID_ACTIVITY_7DAY", "TERMINAL_NB_TX_1HOUR", "TX_AMOUNT",
                     "TX_HOUR", "CUSTOMER_ID_NB_TX_1DAY_WINDOW")}
    recipes = {}
    for rounds in args.amount_rounds:
        train_config = replace(TrainConfig(), amount_first_rounds=rounds, amount_first_depth=args.amount_depth)
        t0 = time.perf_counter()
        model = train_model(features[fit_rows], labels[fit_rows], when[fit_rows], train_config)
        train_seconds = time.perf_counter() - t0
        proba = model.predict_proba(features[test])
        contributions = model.contributions(features[frauds])
        fraud_scen = scenarios[frauds]
        fraud_visible = visible[frauds]
        flagged = proba[labels[test] == 1] >= 0.5
        table = reliability_table(labels[test], proba)
        entry: dict[str, object] = {
            "average_precision": round(average_precision(labels[test], proba), 4),
            "auc_roc": round(auc_roc(labels[test], proba), 4),
            "expected_calibration_error": round(expected_calibration_error(table), 5),
            "num_trees": model.info["num_trees"], "train_seconds": round(train_seconds, 1),
        }
        for rule in ("group_positive_sum", "group_signed_sum", "strongest_feature"):
            first = first_kind(contributions, rule)
            entry[rule] = {"all_frauds": accuracy(first, fraud_scen), "flagged": accuracy(first, fraud_scen, flagged),
                           "s2_terminal_fraud_visible": accuracy(first, fraud_scen, fraud_visible)["2"]}
        first = first_kind(contributions, "group_positive_sum")
        misses = (fraud_scen == 1) & (first != "amount")
        entry["scenario1_misses_first_kind"] = pd.Series(first[misses]).value_counts().to_dict()
        strongest = contributions[misses].idxmax(axis=1).value_counts().head(6).to_dict()
        entry["scenario1_misses_strongest_feature"] = strongest
        amount = features["TX_AMOUNT"].to_numpy()[frauds]
        entry["scenario1_misses_amount_quartiles"] = np.round(np.quantile(amount[misses], [0.25, 0.5, 0.75]), 1).tolist() if misses.any() else []
        entry["scenario1_misses_ratio30_median"] = round(float(np.nanmedian(features["AMOUNT_TO_CUSTOMER_MEAN_30DAY"].to_numpy()[frauds][misses])), 2) if misses.any() else None
        entry["scenario1_hits_ratio30_median"] = round(float(np.nanmedian(features["AMOUNT_TO_CUSTOMER_MEAN_30DAY"].to_numpy()[frauds][(fraud_scen == 1) & ~misses])), 2)
        # the amount group weighted by 1 / alpha against the others (alpha 1: the app's rule)
        positive = contributions.clip(lower=0.0).T.groupby(pd.Series(kinds_of(list(contributions.columns)))).sum().T
        sweep = {}
        for alpha in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            weighted = positive.assign(amount=positive["amount"] / alpha)
            sweep[str(alpha)] = accuracy(weighted.idxmax(axis=1).to_numpy(), fraud_scen)
        entry["amount_weight_sweep"] = sweep
        m3 = (fraud_scen == 3) & (first != "customer")
        entry["scenario3_misses_first_kind"] = pd.Series(first[m3]).value_counts().to_dict()
        if rounds == args.amount_rounds[0] and not args.skip_label_free:
            # a label-free terminal signal from scores already given: earlier flagged rows at the terminal
            all_proba = model.predict_proba(features)
            for days in (1, 3, 7):
                count = terminal_flag_count(frame, all_proba >= 0.5, days)
                report[f"label_free_auc_terminal_flagged_{days}d"] = round(auc_roc(hidden[both].astype(int), count[both]), 4)
        recipes[str(rounds)] = entry
    report["recipes_by_amount_first_rounds"] = recipes
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
