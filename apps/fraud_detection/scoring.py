"""Scoring one transaction online: features from stored state, the tenant's active model, reasons in words.

The hot path avoids pandas: features come from ``StoredState`` as a dict; one small DMatrix gives the
margin (the same call as batch scoring, so equal scores) and the contributions (TreeSHAP, the same
contributions the evaluation measures reason accuracy on); the reasons come from ``reasons.explain_row``.
``ModelCache`` keeps loaded models by version and the tenant's active version for a few seconds (a
promotion in another process is seen within ``ttl_s``).

``score_transaction`` does, in the caller's session: store the transaction when it is new (a stored
one with the same content is scored again; different content is a 409), update the feature state,
score, store the score. Alerts are decided by the caller (``cases``).

Not here: batch scoring (``batch_scoring``), HTTP (``routes``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import xgboost as xgb
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.model import FraudModel
from apps.fraud_detection.reasons import Reason, explain_row
from apps.fraud_detection.state_store import StoredState
from apps.fraud_detection.tables import FraudScore, FraudTransaction
from moesaic.db import new_id
from moesaic.errors import Conflict

APP = "fraud_detection"
MODEL_NAME = "scorer"
ARTEFACT = Path(__file__).parent / "artefact"


class LoadedModel:
    """A ``FraudModel`` ready for single-row scoring (its boosters on one thread each call)."""

    def __init__(self, model: FraudModel) -> None:
        self.model = model.with_threads(1)
        self.version = model.version
        self.features = list(model.features)
        self.label_delay_days = int(model.info.get("label_delay_days", 7))
        self.lock = threading.Lock()  # a Booster is not safe to call from two threads at once

    def score_row(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        """(calibrated probability, per-feature contributions) of one row of feature values: the members'
        means, as ``FraudModel.predict_proba`` and ``contributions`` give them for a frame."""
        row = values.reshape(1, -1).astype("float32")
        matrix = xgb.DMatrix(row, feature_names=self.features, nthread=1)
        probability, contributions = 0.0, np.zeros(len(self.features) + 1)
        with self.lock:
            for member in self.model.members:
                margin = float(member.booster.predict(matrix, output_margin=True)[0])
                probability += 1.0 / (1.0 + np.exp(-(member.platt[0] * margin + member.platt[1])))
                contributions = contributions + member.booster.predict(matrix, pred_contribs=True)[0]
        size = len(self.model.members)
        return probability / size, contributions[:-1] / size

    def batch_copy(self, threads: int) -> FraudModel:
        """A copy for batch work on ``threads`` (taken under the lock: the online boosters may be scoring)."""
        with self.lock:
            return self.model.with_threads(threads)


class ModelCache:
    """Loaded models by version; each tenant's active version, refreshed after ``ttl_s``."""

    def __init__(self, registry: Any, ttl_s: float = 5.0) -> None:
        self.registry, self.ttl_s = registry, ttl_s
        self.models: dict[str, LoadedModel] = {}
        self.active: dict[str, tuple[float, str, str]] = {}  # tenant -> (fetched at, version, uri)
        self.lock = threading.Lock()

    def forget(self, tenant_id: str) -> None:
        self.active.pop(tenant_id, None)

    def load(self, version: str, uri: str) -> LoadedModel:
        with self.lock:
            if version not in self.models:
                folder = Path(uri)
                if not folder.is_dir() and (ARTEFACT / "model.json").is_file():
                    folder = ARTEFACT  # the shipped artefact, recorded where the app was installed before
                loaded = LoadedModel(FraudModel.load(folder))
                if loaded.version != version:
                    raise Conflict(f"model version {version!r} is not installed here: {folder} holds version "
                                   f"{loaded.version!r}; promote an installed version", field="version")
                self.models[version] = loaded
            return self.models[version]

    def current(self, tenant_id: str) -> LoadedModel:
        cached = self.active.get(tenant_id)
        if cached is None or time.monotonic() - cached[0] > self.ttl_s:
            active = self.registry.active(tenant_id, APP, MODEL_NAME)
            cached = (time.monotonic(), active.version, active.uri)
            self.active[tenant_id] = cached
        return self.load(cached[1], cached[2])


@dataclass(frozen=True)
class ScoreResult:
    score_id: str
    transaction_id: int
    score: float
    model_version: str
    reasons: list[Reason]
    features: dict[str, float]
    stored_transaction: bool
    customer_id: int
    terminal_id: int
    tx_datetime: datetime


_TX = cast(Table, FraudTransaction.__table__)
_SELECT_TX = select(_TX.c.tx_datetime, _TX.c.customer_id, _TX.c.terminal_id, _TX.c.amount_cents).where(
    _TX.c.tenant_id == bindparam("tenant"), _TX.c.transaction_id == bindparam("tx"))
_INSERT_TX = insert(_TX)
_INSERT_SCORE = insert(cast(Table, FraudScore.__table__))


def _same(row: Any, tx: dict[str, Any]) -> bool:
    return (row.tx_datetime == tx["TX_DATETIME"] and int(row.customer_id) == tx["CUSTOMER_ID"]
            and int(row.terminal_id) == tx["TERMINAL_ID"] and int(row.amount_cents) == round(tx["TX_AMOUNT"] * 100))


def score_transaction(session: Session, tenant_id: str, tx: dict[str, Any], model: LoadedModel, *,
                      source: str = "api") -> ScoreResult:
    """Score one validated transaction (keys as ``schema.Transaction``; TX_DATETIME naive UTC)."""
    transaction_id, customer, terminal = int(tx["TRANSACTION_ID"]), int(tx["CUSTOMER_ID"]), int(tx["TERMINAL_ID"])
    when, amount = tx["TX_DATETIME"], float(tx["TX_AMOUNT"])
    existing = session.execute(_SELECT_TX, {"tenant": tenant_id, "tx": transaction_id}).first()
    if existing is not None and not _same(existing, tx):
        raise Conflict(f"TRANSACTION_ID {transaction_id} is already stored with other values", field="TRANSACTION_ID")
    state = StoredState(session, tenant_id, FeatureConfig(label_delay_days=model.label_delay_days))
    state.load([customer], [terminal])
    features = state.features(transaction_id, when, customer, terminal, amount)
    values = np.array([features[name] for name in model.features], dtype="float64")
    probability, contributions = model.score_row(values)
    reasons = explain_row(features, model.features, contributions)
    now = datetime.now().astimezone()
    if existing is None:
        label = tx.get("TX_FRAUD")
        label = -1 if label is None else int(label)
        session.execute(_INSERT_TX, {"tenant_id": tenant_id, "transaction_id": transaction_id, "tx_datetime": when,
                                     "customer_id": customer, "terminal_id": terminal, "amount_cents": round(amount * 100),
                                     "label": label, "label_source": source if label >= 0 else "", "created_at": now})
        state.add(transaction_id, when, customer, terminal, amount, label)
        state.save()
    score_id = new_id()
    session.execute(_INSERT_SCORE, {
        "id": score_id, "tenant_id": tenant_id, "transaction_id": transaction_id, "customer_id": customer,
        "terminal_id": terminal, "tx_datetime": when, "day": when.strftime("%Y-%m-%d"), "score": probability,
        "model_version": model.version, "reasons": [r.as_dict() for r in reasons],
        "features": {k: (None if np.isnan(v) else v) for k, v in features.items()}, "source": source, "created_at": now})
    return ScoreResult(score_id, transaction_id, probability, model.version, reasons, features, existing is None,
                       customer, terminal, when)
