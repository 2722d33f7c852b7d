"""Reasons: the booster's own per-feature contributions, grouped and put into words.

Each feature belongs to one kind of evidence: ``amount`` (the amount itself), ``customer`` (the
card's own history, including the amount against the customer's usual amounts), ``terminal`` (the
terminal's activity and known frauds) or ``time``. A transaction's reasons are its kinds ranked by
the sum of their features' positive contributions (TreeSHAP, on the margin); each kind is worded
from its strongest feature, with the feature's value ("amount is 4.1 times this customer's 30-day
mean"). ``reason_accuracy`` checks the first reason of true frauds against TX_FRAUD_SCENARIO
(1 -> amount, 2 -> terminal, 3 -> customer), which is used for this measure only.

Not here: computing contributions (``model.FraudModel.contributions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from dataclasses import dataclass

import numpy as np
import pandas as pd

from apps.fraud_detection.features.definition import HIGH_RATIO

Wording = Callable[[Mapping[str, float]], str]  # a pandas row or a plain dict of the features


def _days(w: str) -> str:
    return "1 day" if w == "1" else f"{w} days"


def _missing(feature: str) -> str:
    """The sentence for a feature whose value is missing (NaN: nothing in its window to compare with)."""
    if feature.startswith("AMOUNT_TO_CUSTOMER_MEAN_"):
        w = feature.removeprefix("AMOUNT_TO_CUSTOMER_MEAN_").removesuffix("DAY")
        return f"no earlier transaction of this customer in {_days(w)} to compare the amount with"
    if feature == "AMOUNT_CUSTOMER_ZSCORE_30DAY":
        return "too few earlier transactions of this customer in 30 days to compare the amount with"
    if feature == "CUSTOMER_SECONDS_SINCE_PREV_TX":
        return "no earlier transaction of this customer on record"
    if feature.endswith("_DAYS_SINCE_KNOWN_FRAUD"):
        return f"no known fraud of this {feature.split('_')[0].lower()} on record"
    return f"{feature} is unknown"


def _wording(feature: str) -> tuple[str, Wording]:
    """The kind and the sentence of one feature, with the sentence for a missing value where it is NaN."""
    kind, word = _present_wording(feature)
    missing = _missing(feature)
    return kind, lambda r: missing if r[feature] != r[feature] else word(r)  # NaN is the one value unequal to itself


def _present_wording(feature: str) -> tuple[str, Wording]:
    """The kind and the sentence of one feature (the row holds every feature of the transaction)."""
    if feature == "TX_AMOUNT":
        return "amount", lambda r: f"the amount, {r['TX_AMOUNT']:,.2f}, is high"
    if feature.startswith("AMOUNT_TO_CUSTOMER_MEAN_"):
        w = feature.removeprefix("AMOUNT_TO_CUSTOMER_MEAN_").removesuffix("DAY")
        return "customer", lambda r: f"amount is {r[feature]:.1f} times this customer's {w}-day mean"
    if feature == "AMOUNT_CUSTOMER_ZSCORE_30DAY":
        return "customer", lambda r: f"amount is {r[feature]:.1f} standard deviations from this customer's 30-day mean"
    if feature.startswith("CUSTOMER_ID_NB_TX_"):
        w = feature.split("_")[4].removesuffix("DAY")
        return "customer", lambda r: f"this customer made {r[feature]:.0f} transactions in {_days(w)}"
    if feature.startswith("CUSTOMER_ID_AVG_AMOUNT_"):
        w = feature.split("_")[4].removesuffix("DAY")
        return "customer", lambda r: f"this customer's mean amount over {_days(w)} is {r[feature]:,.2f}"
    if feature == "CUSTOMER_SECONDS_SINCE_PREV_TX":
        return "customer", lambda r: f"{r[feature] / 60:.0f} minutes since this customer's previous transaction"
    if feature == "CUSTOMER_NB_TX_1HOUR":
        return "customer", lambda r: f"this customer made {r[feature]:.0f} transactions in the last hour"
    if feature == "CUSTOMER_NB_TX_1DAY_TO_30DAY_RATE":
        return "customer", lambda r: f"this customer's transactions today are {r[feature]:.1f} times their 30-day daily rate"
    if feature == "CUSTOMER_KNOWN_FRAUDS_30DAY_WINDOW":
        return "customer", lambda r: f"this customer has {r[feature]:.0f} known frauds over 30 days"
    if feature == "CUSTOMER_DAYS_SINCE_KNOWN_FRAUD":
        return "customer", lambda r: f"this customer's last known fraud was {r[feature]:.0f} days ago"
    if feature.startswith("CUSTOMER_NB_HIGH_RATIO_TX_"):
        w = feature.removeprefix("CUSTOMER_NB_HIGH_RATIO_TX_").removesuffix("DAY")
        return "customer", lambda r: (f"this customer made {r[feature]:.0f} earlier transactions in {_days(w)} of over "
                                      f"{HIGH_RATIO} times their usual amount")
    if feature.startswith("TERMINAL_ID_RISK_"):
        w = feature.split("_")[3].removesuffix("DAY")
        return "terminal", lambda r: f"this terminal's known fraud rate over {_days(w)} is {r[feature]:.0%}"
    if feature.startswith("TERMINAL_ID_NB_TX_"):
        w = feature.split("_")[4].removesuffix("DAY")
        return "terminal", lambda r: f"this terminal has {r[feature]:.0f} transactions with known labels over {_days(w)}"
    if feature.startswith("TERMINAL_ID_ACTIVITY_"):
        w = feature.removeprefix("TERMINAL_ID_ACTIVITY_").removesuffix("DAY")
        return "terminal", lambda r: f"this terminal made {r[feature]:.0f} transactions in {_days(w)}"
    if feature == "TERMINAL_NB_TX_1HOUR":
        return "terminal", lambda r: f"this terminal made {r[feature]:.0f} transactions in the last hour"
    if feature.startswith("TERMINAL_KNOWN_FRAUDS_"):
        w = feature.split("_")[3].removesuffix("DAY")
        return "terminal", lambda r: f"this terminal has {r[feature]:.0f} known frauds over {_days(w)}"
    if feature == "TERMINAL_DAYS_SINCE_KNOWN_FRAUD":
        return "terminal", lambda r: f"this terminal's last known fraud was {r[feature]:.0f} days ago"
    if feature == "TX_DURING_NIGHT":
        return "time", lambda r: "made at night" if r[feature] else "made during the day"
    if feature == "TX_DURING_WEEKEND":
        return "time", lambda r: "made at the weekend" if r[feature] else "made on a weekday"
    if feature == "TX_HOUR":
        return "time", lambda r: f"made at {r[feature]:02.0f}:00"
    raise KeyError(f"no wording for feature {feature!r}; add it to reasons._wording")


SCENARIO_KIND = {1: "amount", 2: "terminal", 3: "customer"}


@dataclass(frozen=True)
class Reason:
    kind: str  # amount | customer | terminal | time
    feature: str
    text: str
    contribution: float  # the kind's summed positive contribution to the margin

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "feature": self.feature, "text": self.text, "contribution": round(self.contribution, 4)}


def kinds_of(features: list[str]) -> dict[str, str]:
    return {f: _wording(f)[0] for f in features}


def explain(features: pd.DataFrame, contributions: pd.DataFrame, top: int = 3) -> list[list[Reason]]:
    """For each row, up to ``top`` reasons, strongest first (kinds with no positive contribution are left out)."""
    kinds = kinds_of(list(contributions.columns))
    positive = contributions.clip(lower=0.0)
    by_kind = positive.T.groupby(pd.Series(kinds)).sum().T  # [N, K]
    out: list[list[Reason]] = []
    for i in range(len(features)):
        row, contrib, totals = features.iloc[i], positive.iloc[i], by_kind.iloc[i]
        reasons = []
        for kind in totals.sort_values(ascending=False).index[:top]:
            if totals[kind] <= 0:
                break
            members = [f for f in contrib.index if kinds[f] == kind]
            strongest = str(contrib[members].idxmax())
            reasons.append(Reason(kind, strongest, _wording(strongest)[1](row), float(totals[kind])))
        out.append(reasons)
    return out


@lru_cache(maxsize=8)
def _kind_index(features: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    kinds = kinds_of(list(features))
    names = tuple(sorted(set(kinds.values())))
    return names, np.array([names.index(kinds[f]) for f in features])


def explain_row(values: Mapping[str, float], features: Sequence[str], contributions: np.ndarray,
                top: int = 3) -> list[Reason]:
    """``explain`` for one transaction without pandas (the online hot path): equal reasons, in the same order."""
    names, kind_of = _kind_index(tuple(features))
    positive = np.clip(contributions.astype("float64"), 0.0, None)
    totals = np.bincount(kind_of, weights=positive, minlength=len(names))
    reasons = []
    for k in np.argsort(-totals, kind="stable")[:top]:
        if totals[k] <= 0:
            break
        members = np.flatnonzero(kind_of == k)
        strongest = features[int(members[np.argmax(positive[members])])]
        reasons.append(Reason(names[k], strongest, _wording(strongest)[1](values), float(totals[k])))
    return reasons


def first_reasons(values: np.ndarray, features: Sequence[str], contributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first reason of many rows at once, per array rather than per row: (kind, sentence) of each row,
    both ``""`` where no kind contributes positively. Equal to ``explain_row(...)[0]`` row by row.

    ``values`` and ``contributions`` are ``[N, F]`` in the order of ``features``. The kind totals are F
    column additions; the strongest member of the first kind one masked argmax; the sentences are worded
    once per distinct strongest feature over that feature's column of values."""
    names, kind_of = _kind_index(tuple(features))
    positive = np.clip(np.asarray(contributions, dtype="float64"), 0.0, None)
    totals = np.zeros((len(positive), len(names)))
    for j, k in enumerate(kind_of):  # in feature order, as explain_row's bincount adds them: equal totals
        totals[:, k] += positive[:, j]
    first = np.argmax(totals, axis=1)  # the first of equal totals, as explain_row's stable sort
    has_reason = totals[np.arange(len(totals)), first] > 0
    in_first = kind_of[None, :] == first[:, None]
    strongest = np.argmax(np.where(in_first, positive, -np.inf), axis=1)  # the first of equal members
    kinds = np.where(has_reason, np.array(names, dtype=object)[first], "")
    texts = np.full(len(totals), "", dtype=object)
    for j in np.unique(strongest[has_reason]):
        rows = np.flatnonzero(has_reason & (strongest == j))
        feature = features[int(j)]
        word = _wording(feature)[1]
        texts[rows] = [word({feature: v}) for v in values[rows, j].tolist()]
    return kinds, texts


def first_kinds(contributions: pd.DataFrame) -> np.ndarray:
    """The kind of each row's first reason (vectorised; equal to ``explain(...)[i][0].kind``)."""
    kinds = kinds_of(list(contributions.columns))
    by_kind = contributions.clip(lower=0.0).T.groupby(pd.Series(kinds)).sum().T
    return by_kind.idxmax(axis=1).to_numpy()


def reason_accuracy(contributions: pd.DataFrame, scenarios: np.ndarray) -> dict[str, float]:
    """Per scenario (true frauds only), the share whose first reason is the scenario's kind."""
    first = first_kinds(contributions)
    out = {}
    for scenario, kind in SCENARIO_KIND.items():
        rows = scenarios == scenario
        out[str(scenario)] = float(np.mean(first[rows] == kind)) if rows.any() else float("nan")
    return out
