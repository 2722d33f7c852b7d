"""Measures of a set of scores: AP, AUC, the Handbook's card precision@k, a reliability table.

Not here: scoring, reasons (``reasons.reason_accuracy``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(average_precision_score(labels, scores))


def auc_roc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores))


def card_precision_at_k(frame: pd.DataFrame, k: int = 100) -> tuple[float, list[float]]:
    """The Handbook's card precision@k over the days of ``frame`` (columns CUSTOMER_ID, TX_DATETIME, TX_FRAUD, score).

    Each day, each card gets its highest score and whether any of its transactions that day was a
    fraud; among cards not already found compromised (a fraud in an earlier day's top k), the k
    highest are alerted; the day's precision is the number of compromised alerted cards over k.
    Returns the mean over days and the per-day values.
    """
    day = pd.to_datetime(frame["TX_DATETIME"]).dt.floor("D")
    cards = (pd.DataFrame({"day": day, "card": frame["CUSTOMER_ID"].to_numpy(), "score": frame["score"].to_numpy(),
                           "fraud": frame["TX_FRAUD"].to_numpy()})
             .groupby(["day", "card"], sort=True).max().reset_index())
    found: set[int] = set()
    per_day: list[float] = []
    for _, cards_of_day in cards.groupby("day", sort=True):
        candidates = cards_of_day[~cards_of_day["card"].isin(found)]
        top = candidates.sort_values("score", ascending=False, kind="stable").head(k)
        hits = top.loc[top["fraud"] == 1, "card"]
        per_day.append(len(hits) / k)
        found.update(int(c) for c in hits)
    return float(np.mean(per_day)) if per_day else float("nan"), per_day


def reliability_table(labels: np.ndarray, probabilities: np.ndarray, num_bins: int = 10) -> list[dict[str, float]]:
    """Bins of predicted probability (edges on a log scale below 0.1, where most scores sit):
    per bin the count, the mean predicted probability and the observed fraud rate."""
    edges = np.array([0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0 + 1e-9])
    if num_bins != 10:
        edges = np.linspace(0, 1 + 1e-9, num_bins + 1)
    which = np.digitize(probabilities, edges[1:-1])
    table = []
    for b in range(len(edges) - 1):
        inside = which == b
        if inside.any():
            table.append({"low": float(edges[b]), "high": float(min(edges[b + 1], 1.0)), "count": int(inside.sum()),
                          "mean_predicted": float(probabilities[inside].mean()),
                          "observed_rate": float(labels[inside].mean())})
    return table


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    total = sum(row["count"] for row in table)
    return float(sum(row["count"] * abs(row["mean_predicted"] - row["observed_rate"]) for row in table) / total)
