"""Reason accuracy study on a validation split before August: what limits it, and which change helps.

Reads only rows dated before ``--until`` (default 2018-08-01: August, the month reported once, is never
read here). Fits the model on labels visible at ``--test-from`` (default 2018-07-01, so April to late
June) and scores the month after it (July). Prints one JSON object: per recipe (``--amount-rounds``),
AP, ECE and reason accuracy under several attribution rules, the scenario-2 cap (share of scenario-2
frauds whose terminal has a known fraud visible at the time), and how much a label-free terminal
signal tells the hidden scenario-2 frauds from genuine transactions.

``--group-shapley 64 32 128`` adds, for the first recipe, the first reason's kind chosen by group Shapley values
with the four kinds as players, exact over the 16 coalitions: interventional (absent kinds' features from a fixed
sample of that many genuine fit rows, margin averaged) for each size given, and path-dependent (the trees' own
cover-weighted expectation, no background); plus, reported only, SHAP interaction blocks within each kind. Each
with its cost per row (batch, and one row at a time on one thread).

Usage: ``PYTHONPATH=platform:. python bench/fraud_reason_study.py --data FILE [--amount-rounds 40 80]
[--group-shapley 64 32 128] [--skip-label-free]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from fraud_common import add_split_arguments, print_report, validation_split  # noqa: E402  (bench/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.fraud_detection.features.batch import to_seconds  # noqa: E402
from apps.fraud_detection.features.definition import DAY  # noqa: E402
from apps.fraud_detection.metrics import (  # noqa: E402
    auc_roc, average_precision, expected_calibration_error, reliability_table,
)
from apps.fraud_detection.model import TrainConfig, train_model  # noqa: E402
from apps.fraud_detection.reasons import SCENARIO_KIND, kinds_of  # noqa: E402


def first_kind(contributions: pd.DataFrame, rule: str) -> np.ndarray:
    kinds = pd.Series(kinds_of(list(contributions.columns)))
    if rule == "group_positive_sum":  # the app's rule
        return contributions.clip(lower=0.0).T.groupby(kinds).sum().T.idxmax(axis=1).to_numpy()
    if rule == "group_signed_sum":
        return contributions.T.groupby(kinds).sum().T.idxmax(axis=1).to_numpy()
    if rule == "strongest_feature":
        return kinds[contributions.idxmax(axis=1).to_numpy()].to_numpy()
    raise ValueError(rule)


def _coalition_masks(num_groups: int) -> np.ndarray:
    return np.arange(2**num_groups)  # bit k set: group k in the coalition


def _shapley_from_values(value: np.ndarray, num_groups: int) -> np.ndarray:
    """Exact Shapley values ``[n, K]`` from the value of every coalition ``[n, 2^K]``."""
    masks = _coalition_masks(num_groups)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(num_groups - s - 1) / math.factorial(num_groups)
                       for s in range(num_groups)])
    out = np.empty((len(value), num_groups))
    for k in range(num_groups):
        without = masks[(masks >> k) & 1 == 0]
        out[:, k] = (weight[size[without]] * (value[:, without | (1 << k)] - value[:, without])).sum(axis=1)
    return out


def group_shapley(booster: xgb.Booster, x: np.ndarray, background: np.ndarray, group: np.ndarray,
                  num_groups: int, chunk: int = 128) -> np.ndarray:
    """Exact group Shapley values of the margin, ``[N, K]``: players are the K groups, coalitions all 2^K;
    v(S) is the margin averaged over the background rows with the features of groups outside S taken from
    them (interventional). ``x`` is ``[N, F]``, ``background`` ``[B, F]``, ``group`` ``[F]`` in 0..K-1."""
    masks = _coalition_masks(num_groups)
    present = (masks[:, None] >> group[None, :]) & 1  # [M, F]: feature kept from x under coalition m
    out = np.empty((len(x), num_groups))
    for start in range(0, len(x), chunk):
        rows = x[start:start + chunk]  # [n, F]
        mixed = np.where(present[None, :, None, :] == 1, rows[:, None, None, :], background[None, None, :, :])  # [n, M, B, F]
        margin = booster.inplace_predict(mixed.reshape(-1, x.shape[1]).astype("float32"), predict_type="margin")
        value = np.asarray(margin, dtype="float64").reshape(len(rows), len(masks), len(background)).mean(axis=2)  # [n, M]
        out[start:start + chunk] = _shapley_from_values(value, num_groups)
    return out


def _leaf_paths(booster: xgb.Booster) -> tuple[np.ndarray, ...]:
    """Every leaf of every tree as its path from the root: per step the feature, the threshold, whether the
    path takes the ``x < threshold`` side, whether missing values take it, and the child's share of cover."""
    trees = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"]["trees"]
    values, paths = [], []
    for tree in trees:
        left, right, feature = tree["left_children"], tree["right_children"], tree["split_indices"]
        split, default_left, cover = tree["split_conditions"], tree["default_left"], tree["sum_hessian"]
        stack: list[tuple[int, list[tuple[int, float, bool, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if left[node] == -1:
                values.append(split[node])
                paths.append(path)
                continue
            for child, is_left in ((left[node], True), (right[node], False)):
                step = (feature[node], split[node], is_left, bool(default_left[node]) == is_left, cover[child] / cover[node])
                stack.append((child, path + [step]))
    depth = max(len(p) for p in paths)
    pad = [(-1, 0.0, True, True, 1.0)]
    rows = [p + pad * (depth - len(p)) for p in paths]
    feat = np.array([[s[0] for s in r] for r in rows])
    thr = np.array([[s[1] for s in r] for r in rows], dtype="float32")
    takes_less = np.array([[s[2] for s in r] for r in rows])
    missing = np.array([[s[3] for s in r] for r in rows])
    share = np.array([[s[4] for s in r] for r in rows])
    return np.array(values), feat, thr, takes_less, missing, share


def group_shapley_path(booster: xgb.Booster, x: np.ndarray, group: np.ndarray, num_groups: int,
                       paths: tuple[np.ndarray, ...] | None = None, chunk: int = 16) -> np.ndarray:
    """Exact group Shapley values of the margin with v(S) the trees' own conditional expectation (follow x at
    splits on features of S; elsewhere both children weighted by cover), as path-dependent TreeSHAP. ``[N, K]``."""
    value, feat, thr, is_left, missing, share = paths if paths is not None else _leaf_paths(booster)
    step_group = np.where(feat >= 0, group[np.maximum(feat, 0)], -1)  # [L, D]
    ratio = np.stack([np.where(step_group == k, share, 1.0).prod(axis=1) for k in range(num_groups)])  # [K, L]
    masks = _coalition_masks(num_groups)
    out = np.empty((len(x), num_groups))
    for start in range(0, len(x), chunk):
        xv = x[start:start + chunk][:, np.maximum(feat, 0)]  # [n, L, D]
        go = np.where(np.isnan(xv), missing, (xv < thr) == is_left) | (feat < 0)
        follows = np.stack([np.all(go | (step_group != k), axis=2) for k in range(num_groups)], axis=1)  # [n, K, L]
        v = np.empty((len(xv), len(masks)))
        for m in masks:
            w = np.ones(follows.shape[::2])
            for k in range(num_groups):
                w = w * (follows[:, k, :] if (m >> k) & 1 else ratio[k][None, :])
            v[:, m] = w @ value
        out[start:start + chunk] = _shapley_from_values(v, num_groups)
    return out


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
    add_split_arguments(parser)
    parser.add_argument("--amount-rounds", type=int, nargs="+", default=[40])
    parser.add_argument("--amount-depth", type=int, default=2)
    parser.add_argument("--group-shapley", type=int, nargs="*", default=[], help="background sizes for group Shapley")
    parser.add_argument("--skip-label-free", action="store_true", help="skip the flagged-terminal signal (a full predict)")
    args = parser.parse_args()
    started = time.perf_counter()
    split = validation_split(args.data, args.test_from, args.until)
    frame, features, when, fit_rows, test = split.frame, split.features, split.when, split.fit_rows, split.test
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
        train_config = replace(TrainConfig(), amount_first_rounds=rounds, amount_first_depth=args.amount_depth,
                               seeds=(0,))  # one booster: the group Shapley values below read it
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
        if rounds == args.amount_rounds[0] and args.group_shapley:
            names = sorted(set(kinds_of(model.features).values()))
            group = np.array([names.index(k) for k in kinds_of(model.features).values()])
            genuine_fit = np.flatnonzero(fit_rows & (labels == 0))
            x = features[frauds][model.features].to_numpy(dtype="float32")
            grouped: dict[str, object] = {}
            entry["group_shapley"] = grouped
            first_by_size: dict[int, np.ndarray] = {}
            paths = _leaf_paths(model.members[0].booster)
            t0 = time.perf_counter()
            phi = group_shapley_path(model.members[0].booster, x, group, len(names), paths)
            batch_ms = (time.perf_counter() - t0) * 1000 / len(x)
            first_gs = np.array(names, dtype=object)[phi.argmax(axis=1)]
            times = []
            for i in range(200):
                t1 = time.perf_counter()
                group_shapley_path(model.members[0].booster, x[i:i + 1], group, len(names), paths)
                times.append(time.perf_counter() - t1)
            grouped["path_dependent"] = {
                "all_frauds": accuracy(first_gs, fraud_scen), "flagged": accuracy(first_gs, fraud_scen, flagged),
                "s2_terminal_fraud_visible": accuracy(first_gs, fraud_scen, fraud_visible)["2"],
                "same_first_kind_as_app_rule": round(float(np.mean(first_gs == first)), 4),
                "batch_ms_per_row": round(batch_ms, 3),
                "single_row_ms_p50_p99": np.round(np.quantile(times, [0.5, 0.99]) * 1000, 2).tolist(),
                "num_leaves": len(paths[0]), "load_average": os.getloadavg()}
            for size in args.group_shapley:
                pick = np.random.default_rng(0).choice(genuine_fit, size=size, replace=False)
                background = features.iloc[pick][model.features].to_numpy(dtype="float32")
                t0 = time.perf_counter()
                phi = group_shapley(model.members[0].booster, x, background, group, len(names))
                batch_ms = (time.perf_counter() - t0) * 1000 / len(x)
                first_gs = np.array(names, dtype=object)[phi.argmax(axis=1)]
                first_by_size[size] = first_gs
                single = model.members[0].booster.copy()
                single.set_param({"nthread": 1})
                times = []
                for i in range(200):
                    t1 = time.perf_counter()
                    group_shapley(single, x[i:i + 1], background, group, len(names))
                    times.append(time.perf_counter() - t1)
                grouped[str(size)] = {
                    "all_frauds": accuracy(first_gs, fraud_scen), "flagged": accuracy(first_gs, fraud_scen, flagged),
                    "s2_terminal_fraud_visible": accuracy(first_gs, fraud_scen, fraud_visible)["2"],
                    "same_first_kind_as_app_rule": round(float(np.mean(first_gs == first)), 4),
                    "batch_ms_per_row_2_threads": round(batch_ms, 3),
                    "single_row_ms_1_thread_p50_p99": np.round(np.quantile(times, [0.5, 0.99]) * 1000, 2).tolist(),
                    "load_average": os.getloadavg()}
            # reported only: SHAP interaction values, each kind scored by its own block (main effects and the
            # interactions among its members; interactions across kinds dropped). Costs about F times TreeSHAP.
            t0 = time.perf_counter()
            inter = model.members[0].booster.predict(xgb.DMatrix(x, feature_names=model.features), pred_interactions=True)[:, :-1, :-1]
            inter_ms = (time.perf_counter() - t0) * 1000 / len(x)
            onehot = np.eye(len(names))[group]  # [F, K]
            block = np.einsum("nij,ik,jk->nk", inter, onehot, onehot)  # [N, K]
            first_block = np.array(names, dtype=object)[block.argmax(axis=1)]
            entry["within_kind_interaction_blocks"] = {
                "all_frauds": accuracy(first_block, fraud_scen), "flagged": accuracy(first_block, fraud_scen, flagged),
                "ms_per_row_2_threads": round(inter_ms, 2)}
            above = features["TX_AMOUNT"].to_numpy()[frauds] > 220
            entry["scenario3_by_amount_over_220"] = {
                "share_over_220": round(float(above[fraud_scen == 3].mean()), 4),
                "app_rule_over_220": accuracy(first, fraud_scen, above)["3"],
                "app_rule_at_most_220": accuracy(first, fraud_scen, ~above)["3"],
                "group_shapley_64_over_220": accuracy(first_by_size[64], fraud_scen, above)["3"] if 64 in first_by_size else None,
                "group_shapley_64_at_most_220": accuracy(first_by_size[64], fraud_scen, ~above)["3"] if 64 in first_by_size else None}
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
    return print_report(report, started)


if __name__ == "__main__":
    sys.exit(main())
