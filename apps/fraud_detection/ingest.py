"""Storing transactions: API rows validated all at once, a validated frame written in one transaction.

``validate_records`` checks API rows with ``schema.Transaction`` and returns every bad row's index
(0-based) and field; ``store_frame`` writes a validated frame (``schema.validate_frame``'s output):
the transaction rows, the labels it carries, and the customers' and terminals' feature state, all in
the caller's session, so a failure leaves nothing behind (atomic). A TRANSACTION_ID already stored is
skipped (a retried batch is idempotent) and counted as a duplicate; within one input the last row wins.

Not here: reading files and SQL tables (``connectors.transactions``), scoring (``scoring``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from apps.fraud_detection.features.batch import sort_history
from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.schema import RowError, row_errors
from apps.fraud_detection.state_store import CHUNK, StoredState
from apps.fraud_detection.tables import FraudLabel, FraudTransaction

MAX_API_ROWS = 10_000


@dataclass(frozen=True)
class StoreResult:
    num_received: int
    num_stored: int
    num_duplicates: int
    num_labels: int

    def as_dict(self) -> dict[str, int]:
        return {"num_received": self.num_received, "num_stored": self.num_stored,
                "num_duplicates": self.num_duplicates, "num_labels": self.num_labels}


def validate_records(records: list[dict[str, Any]], now: datetime | None = None) -> tuple[pd.DataFrame, list[RowError]]:
    """API rows as a typed frame, or the errors of every bad row (``RowError.row`` is the 0-based index)."""
    now = now or datetime.now()
    errors: list[RowError] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            errors.append(RowError(index, "transaction", "must be an object with the transaction's fields"))
            continue
        present = {k: v for k, v in record.items() if v is not None}
        errors.extend(RowError(index, e.field, e.message) for e in row_errors(index, present, now))
    if errors:
        return pd.DataFrame(), errors
    frame = pd.DataFrame({
        "TRANSACTION_ID": np.array([int(r["TRANSACTION_ID"]) for r in records], dtype="int64"),
        "TX_DATETIME": pd.to_datetime([r["TX_DATETIME"] for r in records], format="ISO8601", utc=True)
        .tz_convert(None).astype("datetime64[ns]"),
        "CUSTOMER_ID": np.array([int(r["CUSTOMER_ID"]) for r in records], dtype="int64"),
        "TERMINAL_ID": np.array([int(r["TERMINAL_ID"]) for r in records], dtype="int64"),
        "TX_AMOUNT": np.array([float(r["TX_AMOUNT"]) for r in records], dtype="float64"),
        "TX_FRAUD": np.array([-1 if r.get("TX_FRAUD") is None else int(r["TX_FRAUD"]) for r in records], dtype="int8"),
    })
    return frame, []


def stored_ids(session: Session, tenant_id: str, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        found.update(int(i) for i in session.scalars(select(FraudTransaction.transaction_id).where(
            FraudTransaction.tenant_id == tenant_id, FraudTransaction.transaction_id.in_(part))))
    return found


def store_frame(session: Session, tenant_id: str, frame: pd.DataFrame, *, source: str,
                config: FeatureConfig | None = None) -> StoreResult:
    """Write a validated frame's new transactions, labels and feature state in ``session`` (the caller commits)."""
    received = len(frame)
    frame = sort_history(frame.drop_duplicates("TRANSACTION_ID", keep="last"))
    already = stored_ids(session, tenant_id, [int(i) for i in frame["TRANSACTION_ID"]])
    new = frame[~frame["TRANSACTION_ID"].isin(list(already))] if already else frame
    if new.empty:
        return StoreResult(received, 0, received, 0)
    cents = np.rint(new["TX_AMOUNT"].to_numpy() * 100).astype("int64")
    labels = new["TX_FRAUD"].to_numpy().astype("int64")
    rows = [{"tenant_id": tenant_id, "transaction_id": int(i), "tx_datetime": when.to_pydatetime(),
             "customer_id": int(c), "terminal_id": int(t), "amount_cents": int(a), "label": int(y),
             "label_source": source if y >= 0 else "", "created_at": datetime.now().astimezone()}
            for i, when, c, t, a, y in zip(new["TRANSACTION_ID"], new["TX_DATETIME"], new["CUSTOMER_ID"],
                                            new["TERMINAL_ID"], cents, labels)]
    session.execute(insert(FraudTransaction), rows)
    label_rows = [{"tenant_id": tenant_id, "transaction_id": r["transaction_id"], "label": r["label"], "source": source,
                   "case_id": None, "given_by": "", "created_at": r["created_at"]} for r in rows if r["label"] >= 0]
    if label_rows:
        session.execute(insert(FraudLabel), label_rows)
    state = StoredState(session, tenant_id, config or FeatureConfig())
    state.load(new["CUSTOMER_ID"].tolist(), new["TERMINAL_ID"].tolist())
    for r in rows:
        state.add(r["transaction_id"], r["tx_datetime"], r["customer_id"], r["terminal_id"], r["amount_cents"] / 100.0,
                  r["label"])
    state.save()
    return StoreResult(received, len(rows), received - len(rows), len(label_rows))
