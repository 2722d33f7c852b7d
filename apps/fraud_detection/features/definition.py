"""The feature definition, once: the windows, the aggregates they yield, and the features derived from them.

A transaction's features are a pure function of integer aggregates over its customer's and its
terminal's history (counts, sums of amounts in cents, times). ``batch.aggregate`` computes those
aggregates for millions of rows at once, ``online.FeatureState`` for one transaction from stored
state; both hand them to ``derive``, the one place where features are computed, so equal aggregates
give bit-equal features (tests/apps/fraud_detection/test_features.py proves the aggregates equal).

Windows, for a transaction at time t (seconds) whose label delay is d:
- activity windows ``(t - w, t]``: every earlier transaction of the entity (same-second ties broken
  by TRANSACTION_ID) and the transaction itself; amounts need no label.
- known-label windows ``(t - d - w, t - d]``: transactions whose label is visible at t (a label is
  visible exactly d after its transaction). This is the Handbook's delayed terminal risk.
- high-amount counts: the customer's earlier transactions in ``(t - w, t)`` (w in ``HIGH_COUNT_DAYS``)
  whose amount was over ``HIGH_RATIO`` times the mean of the customer's transactions in the
  ``HIGH_BASE_DAYS`` before them (at least one). Label-free: a card whose amounts were inflated
  (compromised credentials) shows it before any of its frauds is labelled.

Not here: reading data, models, the label of the transaction itself (never an input), TX_FRAUD_SCENARIO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DAY = 86_400
HOUR = 3_600
WINDOW_DAYS = (1, 7, 30)
VELOCITY_SECONDS = HOUR
DEFAULT_LABEL_DELAY_DAYS = 7
# A customer's transaction is "high" when its amount is over HIGH_RATIO times the mean of the customer's
# transactions in the HIGH_BASE_DAYS before it; features count the customer's earlier high transactions.
HIGH_RATIO = 3
HIGH_BASE_DAYS = 7
HIGH_COUNT_DAYS = (7, 14)


@dataclass(frozen=True)
class FeatureConfig:
    """What the windows depend on: the label delay (days, > 0)."""

    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS

    def __post_init__(self) -> None:
        if self.label_delay_days < 1:
            raise ValueError(f"label_delay_days must be >= 1 (got {self.label_delay_days})")

    @property
    def delay_seconds(self) -> int:
        return self.label_delay_days * DAY

    @property
    def horizon_seconds(self) -> int:
        """How far back any window reaches: the state online scoring must keep."""
        return max(self.delay_seconds + max(WINDOW_DAYS) * DAY, (max(HIGH_COUNT_DAYS) + HIGH_BASE_DAYS) * DAY)


def aggregate_names() -> list[str]:
    """The integer aggregates both implementations produce, in a fixed order."""
    names = ["t", "amount_cents"]
    for entity in ("customer", "terminal"):
        for w in WINDOW_DAYS:
            names += [f"{entity}_n_{w}d", f"{entity}_sum_{w}d"]
            names += [f"{entity}_known_n_{w}d", f"{entity}_known_fraud_{w}d"]
        names += [f"{entity}_n_1h", f"{entity}_prev_t", f"{entity}_last_known_fraud_t"]
    names += ["customer_sumsq_30d"]
    names += [f"customer_high_n_{w}d" for w in HIGH_COUNT_DAYS]
    return names


AGGREGATES = aggregate_names()
MISSING_TIME = -1  # *_prev_t / *_last_known_fraud_t when there is none in the window

# The Handbook's 15 features (Fraud Detection Handbook, ch. 3), our names equal theirs.
HANDBOOK_FEATURES = [
    "TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT",
    *[f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in WINDOW_DAYS for k in ("NB_TX", "AVG_AMOUNT")],
    *[f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in WINDOW_DAYS for k in ("NB_TX", "RISK")],
]
EXTRA_FEATURES = [
    "TX_HOUR",
    "AMOUNT_TO_CUSTOMER_MEAN_7DAY", "AMOUNT_TO_CUSTOMER_MEAN_30DAY", "AMOUNT_CUSTOMER_ZSCORE_30DAY",
    "CUSTOMER_SECONDS_SINCE_PREV_TX", "CUSTOMER_NB_TX_1HOUR", "CUSTOMER_NB_TX_1DAY_TO_30DAY_RATE",
    "CUSTOMER_KNOWN_FRAUDS_30DAY_WINDOW", "CUSTOMER_DAYS_SINCE_KNOWN_FRAUD",
    "TERMINAL_ID_ACTIVITY_1DAY", "TERMINAL_ID_ACTIVITY_7DAY", "TERMINAL_NB_TX_1HOUR",
    "TERMINAL_KNOWN_FRAUDS_1DAY_WINDOW", "TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW", "TERMINAL_DAYS_SINCE_KNOWN_FRAUD",
    *[f"CUSTOMER_NB_HIGH_RATIO_TX_{w}DAY" for w in HIGH_COUNT_DAYS],
]
FEATURE_NAMES = HANDBOOK_FEATURES + EXTRA_FEATURES


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(numerator.shape, empty, dtype="float64")
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _since(t: np.ndarray, earlier: np.ndarray, unit: int) -> np.ndarray:
    return np.where(earlier == MISSING_TIME, np.nan, (t - earlier) / unit)


def derive(agg: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every feature in ``FEATURE_NAMES`` from the aggregates (arrays of equal length, int64)."""
    t, cents = agg["t"], agg["amount_cents"]
    out: dict[str, np.ndarray] = {"TX_AMOUNT": cents / 100.0}
    day_number, second_of_day = np.divmod(t, DAY)
    out["TX_DURING_WEEKEND"] = (((day_number + 3) % 7) >= 5).astype("float64")  # 1970-01-01 was a Thursday
    hour = second_of_day // HOUR
    out["TX_DURING_NIGHT"] = (hour <= 6).astype("float64")  # the Handbook's night: 0:00 to 6:59
    for w in WINDOW_DAYS:
        n, total = agg[f"customer_n_{w}d"], agg[f"customer_sum_{w}d"]
        out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = n.astype("float64")
        out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = _ratio(total / 100.0, n, 0.0)
    for w in WINDOW_DAYS:
        known, frauds = agg[f"terminal_known_n_{w}d"], agg[f"terminal_known_fraud_{w}d"]
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = known.astype("float64")
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = _ratio(frauds.astype("float64"), known, 0.0)
    out["TX_HOUR"] = hour.astype("float64")
    for w in (7, 30):  # the customer's mean before this transaction
        previous_n = agg[f"customer_n_{w}d"] - 1
        previous_mean = _ratio((agg[f"customer_sum_{w}d"] - cents) / 100.0, previous_n, np.nan)
        out[f"AMOUNT_TO_CUSTOMER_MEAN_{w}DAY"] = _ratio(cents / 100.0, previous_mean, np.nan)
    n30, s30, q30 = agg["customer_n_30d"] - 1, agg["customer_sum_30d"] - cents, agg["customer_sumsq_30d"] - cents * cents
    mean30 = _ratio(s30.astype("float64"), n30, np.nan)
    variance = _ratio(q30.astype("float64"), n30, np.nan) - mean30 * mean30
    std30 = np.sqrt(np.maximum(variance, 0.0))
    out["AMOUNT_CUSTOMER_ZSCORE_30DAY"] = _ratio(cents - mean30, np.where(n30 >= 2, std30, 0.0), np.nan)
    out["CUSTOMER_SECONDS_SINCE_PREV_TX"] = _since(t, agg["customer_prev_t"], 1)
    out["CUSTOMER_NB_TX_1HOUR"] = agg["customer_n_1h"].astype("float64")
    out["CUSTOMER_NB_TX_1DAY_TO_30DAY_RATE"] = _ratio(agg["customer_n_1d"] * 30.0, agg["customer_n_30d"], 0.0)
    out["CUSTOMER_KNOWN_FRAUDS_30DAY_WINDOW"] = agg["customer_known_fraud_30d"].astype("float64")
    out["CUSTOMER_DAYS_SINCE_KNOWN_FRAUD"] = _since(t, agg["customer_last_known_fraud_t"], DAY)
    out["TERMINAL_ID_ACTIVITY_1DAY"] = agg["terminal_n_1d"].astype("float64")
    out["TERMINAL_ID_ACTIVITY_7DAY"] = agg["terminal_n_7d"].astype("float64")
    out["TERMINAL_NB_TX_1HOUR"] = agg["terminal_n_1h"].astype("float64")
    out["TERMINAL_KNOWN_FRAUDS_1DAY_WINDOW"] = agg["terminal_known_fraud_1d"].astype("float64")
    out["TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW"] = agg["terminal_known_fraud_7d"].astype("float64")
    out["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"] = _since(t, agg["terminal_last_known_fraud_t"], DAY)
    for w in HIGH_COUNT_DAYS:
        out[f"CUSTOMER_NB_HIGH_RATIO_TX_{w}DAY"] = agg[f"customer_high_n_{w}d"].astype("float64")
    assert list(out) == FEATURE_NAMES, "derive() and FEATURE_NAMES disagree on the features or their order"
    return out
