"""Online aggregates: one transaction's windows from the state kept per customer and terminal.

``FeatureState`` keeps, per entity, the transactions within ``config.horizon_seconds`` (time, id,
amount in cents, label) plus the time of its last transaction; ``features(tx)`` reads them and
``add(tx)`` stores the transaction, ``set_label`` records an investigator's or the issuer's label.
Transactions may arrive late: windows only ever use what sorts before the transaction by
(time, TRANSACTION_ID), as ``batch`` does.

Not here: persistence to the app's tables (a state is rebuilt from stored history with
``from_history``), the feature formulas (``definition.derive``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from apps.fraud_detection.features.batch import to_seconds
from apps.fraud_detection.features.definition import (
    DAY, HIGH_BASE_DAYS, HIGH_COUNT_DAYS, HIGH_RATIO, MISSING_TIME, VELOCITY_SECONDS, WINDOW_DAYS, FeatureConfig,
    derive,
)


@dataclass
class EntityHistory:
    """One customer's or terminal's recent transactions, sorted by (time, id)."""

    keys: list[tuple[int, int]] = field(default_factory=list)  # (t, transaction id)
    cents: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # -1 unknown, 0, 1
    pruned_last_t: int = MISSING_TIME  # the newest transaction pruned away (for "time since previous")

    def insert(self, t: int, transaction_id: int, cents: int, label: int) -> None:
        at = bisect.bisect_right(self.keys, (t, transaction_id))
        self.keys.insert(at, (t, transaction_id))
        self.cents.insert(at, cents)
        self.labels.insert(at, label)

    def prune(self, before: int) -> None:
        cut = bisect.bisect_left(self.keys, (before, -1))
        if cut:
            self.pruned_last_t = max(self.pruned_last_t, self.keys[cut - 1][0])
            del self.keys[:cut], self.cents[:cut], self.labels[:cut]

    def aggregates(self, prefix: str, t: int, transaction_id: int, cents: int,
                   config: FeatureConfig) -> dict[str, int]:
        end = bisect.bisect_left(self.keys, (t, transaction_id))  # strictly before this transaction
        times = np.fromiter((k[0] for k in self.keys[:end]), dtype="int64", count=end)
        amounts = np.asarray(self.cents[:end], dtype="int64")
        labels = np.asarray(self.labels[:end], dtype="int64")
        d = config.delay_seconds
        out: dict[str, int] = {}
        for w in WINDOW_DAYS:
            recent = times > t - w * DAY
            out[f"{prefix}_n_{w}d"] = int(recent.sum()) + 1
            out[f"{prefix}_sum_{w}d"] = int(amounts[recent].sum()) + cents
            known = (times > t - d - w * DAY) & (times <= t - d)
            out[f"{prefix}_known_n_{w}d"] = int((known & (labels >= 0)).sum())
            out[f"{prefix}_known_fraud_{w}d"] = int((known & (labels == 1)).sum())
            if prefix == "customer" and w == 30:
                out["customer_sumsq_30d"] = int((amounts[recent] ** 2).sum()) + cents * cents
        if prefix == "customer":
            out.update(_high_counts(times, amounts, t))
        out[f"{prefix}_n_1h"] = int((times > t - VELOCITY_SECONDS).sum()) + 1
        out[f"{prefix}_prev_t"] = self.keys[end - 1][0] if end else self.pruned_last_t
        frauds = times[(labels == 1) & (times > t - d - max(WINDOW_DAYS) * DAY) & (times <= t - d)]
        out[f"{prefix}_last_known_fraud_t"] = int(frauds.max()) if len(frauds) else MISSING_TIME
        return out


def _high_counts(times: np.ndarray, amounts: np.ndarray, t: int) -> dict[str, int]:
    """The customer's earlier transactions in (t - w, t) that were high against their own past (``times`` and
    ``amounts`` hold every earlier transaction in time order; only the last ``max(HIGH_COUNT_DAYS)`` are judged)."""
    start = int(np.searchsorted(times, t - max(HIGH_COUNT_DAYS) * DAY, side="right"))
    judged = np.arange(start, len(times))
    lower = np.searchsorted(times, times[judged] - HIGH_BASE_DAYS * DAY, side="right")
    sums = np.concatenate([[0], np.cumsum(amounts)])
    prior_n, prior_sum = judged - lower, sums[judged] - sums[lower]
    high = (prior_n > 0) & (amounts[judged] * prior_n > HIGH_RATIO * prior_sum)
    return {f"customer_high_n_{w}d": int((high & (times[judged] > t - w * DAY)).sum()) for w in HIGH_COUNT_DAYS}


class FeatureState:
    """The stored state online scoring reads: per customer and per terminal histories."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        self.customers: dict[int, EntityHistory] = {}
        self.terminals: dict[int, EntityHistory] = {}
        self._where: dict[int, tuple[int, int, int]] = {}  # transaction id -> (customer, terminal, t)
        self.latest_t = MISSING_TIME

    def aggregates(self, transaction_id: int, when: pd.Timestamp, customer: int, terminal: int,
                   amount: float) -> dict[str, np.ndarray]:
        t = int(to_seconds(np.array([np.datetime64(when, "ns")]))[0])
        cents = int(round(amount * 100))
        out = {"t": t, "amount_cents": cents}
        empty = EntityHistory()
        out.update(self.customers.get(customer, empty).aggregates("customer", t, transaction_id, cents, self.config))
        out.update(self.terminals.get(terminal, empty).aggregates("terminal", t, transaction_id, cents, self.config))
        return {name: np.array([value], dtype="int64") for name, value in out.items()}

    def features(self, transaction_id: int, when: pd.Timestamp, customer: int, terminal: int,
                 amount: float) -> dict[str, float]:
        """The features of one transaction, from the state as it is (the transaction is not added)."""
        derived = derive(self.aggregates(transaction_id, when, customer, terminal, amount))
        return {name: float(values[0]) for name, values in derived.items()}

    def add(self, transaction_id: int, when: pd.Timestamp, customer: int, terminal: int, amount: float,
            label: int = -1) -> None:
        """Store a transaction (after scoring it); prunes what no window can reach any more."""
        t = int(to_seconds(np.array([np.datetime64(when, "ns")]))[0])
        cents = int(round(amount * 100))
        for table, entity in ((self.customers, customer), (self.terminals, terminal)):
            history = table.setdefault(entity, EntityHistory())
            history.insert(t, transaction_id, cents, label)
            history.prune(t - self.config.horizon_seconds)
        self._where[transaction_id] = (customer, terminal, t)
        self.latest_t = max(self.latest_t, t)

    def set_label(self, transaction_id: int, label: int) -> bool:
        """Record a label (0 or 1); False when the transaction is no longer (or never was) in the state."""
        where = self._where.get(transaction_id)
        if where is None:
            return False
        customer, terminal, t = where
        found = False
        for history in (self.customers[customer], self.terminals[terminal]):
            at = bisect.bisect_left(history.keys, (t, transaction_id))
            if at < len(history.keys) and history.keys[at] == (t, transaction_id):
                history.labels[at] = label
                found = True
        return found

    @classmethod
    def from_history(cls, history: pd.DataFrame, config: FeatureConfig | None = None) -> "FeatureState":
        """A state holding every row of a validated frame (labels as given, -1 unknown)."""
        state = cls(config)
        for row in history.itertuples(index=False):
            state.add(int(row.TRANSACTION_ID), row.TX_DATETIME, int(row.CUSTOMER_ID), int(row.TERMINAL_ID),
                      float(row.TX_AMOUNT), int(row.TX_FRAUD))
        return state
