"""Batch aggregates: every window of ``definition`` for millions of transactions at once.

Why numpy over a sorted key rather than pandas ``rolling``, polars or duckdb: each entity's rows are
laid out by one stable sort on ``entity * SPAN + time``; then every window bound of every row is one
``np.searchsorted`` and every windowed count or sum is a difference of two prefix sums, all in
integers, so the result is exact and equal to the online scan, with same-second ties ordered by
TRANSACTION_ID as online scoring sees them. pandas' time-based ``rolling`` cannot express the
delayed label window ``(t - d - w, t - d]`` without two rollings and float sums, and neither polars
nor duckdb would be faster than a handful of vectorised searchsorteds (1.47M rows: about 2 s on
2 cores) while adding a dependency.

Not here: which features exist (``definition``), validation, models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from apps.fraud_detection.features.definition import (
    DAY, HIGH_BASE_DAYS, HIGH_COUNT_DAYS, HIGH_RATIO, MISSING_TIME, VELOCITY_SECONDS, WINDOW_DAYS, FeatureConfig,
    derive,
)

SPAN = 2**35  # seconds per entity in the packed key (about 1,000 years)


def to_seconds(when: pd.Series | np.ndarray) -> np.ndarray:
    """datetime64 values as int64 seconds since the epoch (the unit of every window)."""
    return np.asarray(when, dtype="datetime64[ns]").astype("int64") // 1_000_000_000


def sort_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order online scoring sees them: by whole second (the unit of every window), same-second ties
    by TRANSACTION_ID, even where the times carry fractions of a second."""
    second = frame["TX_DATETIME"].dt.floor("s")
    order = pd.DataFrame({"second": second.to_numpy(), "id": frame["TRANSACTION_ID"].to_numpy()})
    rows = order.sort_values(["second", "id"], kind="stable").index.to_numpy()
    return frame.iloc[rows].reset_index(drop=True)


def _entity(prefix: str, t: np.ndarray, entity: np.ndarray, cents: np.ndarray, label: np.ndarray,
            config: FeatureConfig) -> dict[str, np.ndarray]:
    codes = pd.factorize(entity)[0].astype("int64")
    order = np.argsort(codes, kind="stable")  # rows arrive sorted by (t, id): stable keeps that per entity
    offset = config.horizon_seconds + 1
    relative = t[order] - t.min() + offset
    assert relative.max() + offset < SPAN, "time span of the history too long for the packed key"
    base = codes[order] * SPAN
    key = base + relative  # [N] ascending
    n = len(key)
    position = np.arange(n)
    amounts = cents[order]
    amount_sums = np.concatenate([[0], np.cumsum(amounts)])
    labels = label[order]
    known_sums = np.concatenate([[0], np.cumsum(labels >= 0)])
    fraud_sums = np.concatenate([[0], np.cumsum(labels == 1)])
    d = config.delay_seconds
    out: dict[str, np.ndarray] = {}
    known_upper = np.searchsorted(key, key - d, side="right")  # <= position, as d > 0
    for w in WINDOW_DAYS:
        lower = np.searchsorted(key, key - w * DAY, side="right")
        out[f"{prefix}_n_{w}d"] = position + 1 - lower
        out[f"{prefix}_sum_{w}d"] = amount_sums[position + 1] - amount_sums[lower]
        known_lower = np.searchsorted(key, key - d - w * DAY, side="right")
        out[f"{prefix}_known_n_{w}d"] = known_sums[known_upper] - known_sums[known_lower]
        out[f"{prefix}_known_fraud_{w}d"] = fraud_sums[known_upper] - fraud_sums[known_lower]
        if prefix == "customer" and w == 30:
            squares = np.concatenate([[0], np.cumsum(amounts * amounts)])
            out["customer_sumsq_30d"] = squares[position + 1] - squares[lower]
    if prefix == "customer":
        out.update(_high_counts(key, position, amounts, amount_sums))
    out[f"{prefix}_n_1h"] = position + 1 - np.searchsorted(key, key - VELOCITY_SECONDS, side="right")
    group_start = np.searchsorted(key, base, side="left")
    previous = np.where(position > group_start, np.roll(relative, 1), MISSING_TIME)
    out[f"{prefix}_prev_t"] = np.where(previous == MISSING_TIME, MISSING_TIME, previous - offset + t.min())
    running = np.maximum.accumulate(np.where(labels == 1, key, base))  # last fraud key so far, per entity
    last = running[np.maximum(known_upper - 1, 0)]
    in_window = (known_upper > 0) & (last > key - d - max(WINDOW_DAYS) * DAY) & (last > base)
    out[f"{prefix}_last_known_fraud_t"] = np.where(in_window, last - base - offset + t.min(), MISSING_TIME)
    restored: dict[str, np.ndarray] = {}
    for name, values in out.items():
        back = np.empty(n, dtype="int64")
        back[order] = values
        restored[name] = back
    return restored


def _high_counts(key: np.ndarray, position: np.ndarray, amounts: np.ndarray,
                 amount_sums: np.ndarray) -> dict[str, np.ndarray]:
    """Per row (in key order), the customer's earlier rows in (t - w, t) that were high against their own past."""
    lower = np.searchsorted(key, key - HIGH_BASE_DAYS * DAY, side="right")
    prior_n, prior_sum = position - lower, amount_sums[position] - amount_sums[lower]
    high = (prior_n > 0) & (amounts * prior_n > HIGH_RATIO * prior_sum)
    high_sums = np.concatenate([[0], np.cumsum(high)])
    return {f"customer_high_n_{w}d": high_sums[position] - high_sums[np.searchsorted(key, key - w * DAY, side="right")]
            for w in HIGH_COUNT_DAYS}


def aggregate(history: pd.DataFrame, config: FeatureConfig) -> dict[str, np.ndarray]:
    """The aggregates of every row of ``history`` (sorted by ``sort_history``; labels -1 where unknown)."""
    t = to_seconds(history["TX_DATETIME"])
    assert np.all(np.diff(t) >= 0), "history must be sorted by sort_history() first"
    cents = np.rint(history["TX_AMOUNT"].to_numpy(dtype="float64") * 100).astype("int64")
    label = history["TX_FRAUD"].to_numpy().astype("int64")
    out = {"t": t, "amount_cents": cents}
    out.update(_entity("customer", t, history["CUSTOMER_ID"].to_numpy(), cents, label, config))
    out.update(_entity("terminal", t, history["TERMINAL_ID"].to_numpy(), cents, label, config))
    return out


def compute_features(history: pd.DataFrame, config: FeatureConfig | None = None) -> pd.DataFrame:
    """The model's features for every row of a sorted history, in ``FEATURE_NAMES`` order."""
    return pd.DataFrame(derive(aggregate(history, config or FeatureConfig())), index=history.index)
