"""The fraud model: an XGBoost booster over the feature definition, Platt-calibrated on a later slice.

``train_model`` fits the booster on the older part of a training window and the calibration on its
last ``calibration_days`` (so the calibration sees scores the booster was not fitted on);
``FraudModel`` scores feature frames (calibrated probabilities) and gives each feature's contribution
(the booster's own TreeSHAP, ``pred_contribs``). Platt scaling rather than isotonic: it is strictly
monotone, so calibration never ties two scores and ranking measures (AP, card precision) are the
booster's own. ``save``/``load`` write a small folder: ``booster.ubj`` and ``model.json``.

Not here: features (``features``), wording of reasons (``reasons``), evaluation protocol.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.optimize import minimize

from apps.fraud_detection.features.definition import FEATURE_NAMES


@dataclass(frozen=True)
class TrainConfig:
    """Booster and calibration settings; every field is recorded in the model card."""

    num_rounds: int = 400
    early_stopping_rounds: int = 40
    max_depth: int = 5
    learning_rate: float = 0.08
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    calibration_days: int = 14
    amount_first_rounds: int = 40  # stage 1: trees on TX_AMOUNT alone (see train_model); chosen on July, not August
    amount_first_depth: int = 2
    amount_first_learning_rate: float = 0.1
    num_threads: int = 2
    seed: int = 0
    features: tuple[str, ...] = tuple(FEATURE_NAMES)

    def params(self) -> dict[str, Any]:
        return {"objective": "binary:logistic", "eval_metric": "aucpr", "tree_method": "hist",
                "max_depth": self.max_depth, "eta": self.learning_rate, "subsample": self.subsample,
                "colsample_bytree": self.colsample_bytree, "min_child_weight": self.min_child_weight,
                "nthread": self.num_threads, "seed": self.seed}


@dataclass
class FraudModel:
    """A trained booster with its Platt calibration ``p = sigmoid(a * margin + b)``."""

    booster: xgb.Booster
    features: list[str]
    platt: tuple[float, float] = (1.0, 0.0)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """A content hash: every score records it."""
        raw = bytes(self.booster.save_raw("ubj")) + json.dumps(self.platt).encode()
        return hashlib.sha256(raw).hexdigest()[:12]

    def _matrix(self, features: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(features[self.features].to_numpy(dtype="float32"), feature_names=self.features)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(self._matrix(features), output_margin=True).astype("float64")

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.margin(features) + b)))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per feature, its TreeSHAP contribution to the margin (the bias column is dropped)."""
        values = self.booster.predict(self._matrix(features), pred_contribs=True)  # [N, F + 1]
        return pd.DataFrame(values[:, :-1], columns=self.features, index=features.index)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(folder / "booster.ubj")
        meta = {"version": self.version, "features": self.features, "platt": list(self.platt), "info": self.info}
        (folder / "model.json").write_text(json.dumps(meta, indent=1, default=str) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "FraudModel":
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        booster = xgb.Booster()
        booster.load_model(folder / "booster.ubj")
        model = cls(booster, list(meta["features"]), (float(meta["platt"][0]), float(meta["platt"][1])), meta["info"])
        assert model.version == meta["version"], f"{folder}: artefact does not match its recorded version"
        return model


def fit_platt(margin: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Fit ``sigmoid(a * margin + b)`` to the labels by log loss (Platt scaling)."""
    y = labels.astype("float64")

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * margin + params[1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.sum(np.logaddexp(0.0, z) - y * z))
        residual = p - y
        return value, np.array([np.sum(residual * margin), np.sum(residual)])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def train_model(features: pd.DataFrame, labels: np.ndarray, times: pd.Series,
                config: TrainConfig | None = None) -> FraudModel:
    """Fit on the rows before the last ``calibration_days``; early-stop and calibrate on those days."""
    config = config or TrainConfig()
    names = list(config.features)
    times = pd.to_datetime(pd.Series(np.asarray(times)))
    split = times.max().floor("D") - pd.Timedelta(days=config.calibration_days - 1)
    early = (times < split).to_numpy()
    assert early.any() and (~early).any(), "training window shorter than the calibration slice"
    x = features[names].to_numpy(dtype="float32")
    fit = xgb.DMatrix(x[early], label=labels[early], feature_names=names)
    later = xgb.DMatrix(x[~early], label=labels[~early], feature_names=names)
    started = time.perf_counter()
    stage_one = None
    if config.amount_first_rounds and "TX_AMOUNT" in names:
        # Stage 1 sees only the amount (every other column missing, so no tree can split on it): what the
        # amount alone says is credited to the amount, and stage 2 explains only what is left. Without it
        # TreeSHAP splits the evidence of a large amount between TX_AMOUNT and the customer-relative ratios.
        amount_only = np.full_like(x[early], np.nan)
        amount_only[:, names.index("TX_AMOUNT")] = x[early][:, names.index("TX_AMOUNT")]
        params = {**config.params(), "max_depth": config.amount_first_depth, "eta": config.amount_first_learning_rate}
        stage_one = xgb.train(params, xgb.DMatrix(amount_only, label=labels[early], feature_names=names),
                              num_boost_round=config.amount_first_rounds, verbose_eval=False)
    booster = xgb.train(config.params(), fit, num_boost_round=config.num_rounds, evals=[(later, "calibration")],
                        early_stopping_rounds=config.early_stopping_rounds, verbose_eval=False, xgb_model=stage_one)
    booster = booster[: booster.best_iteration + 1]
    margin = booster.predict(later, output_margin=True).astype("float64")
    platt = fit_platt(margin, labels[~early])
    info = {"train_config": asdict(config), "num_fit_rows": int(early.sum()), "num_calibration_rows": int((~early).sum()),
            "fit_from": str(times[early].min()), "calibration_from": str(split), "window_end": str(times.max()),
            "num_trees": int(booster.num_boosted_rounds()),
            "train_seconds": round(time.perf_counter() - started, 2)}
    return FraudModel(booster, names, platt, info)
