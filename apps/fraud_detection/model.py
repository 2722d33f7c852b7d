"""The fraud model: a bag of XGBoost boosters over the feature definition, each Platt-calibrated on a later slice.

``train_model`` fits each member (one booster seed each, ``TrainConfig.seeds``) on the older part of a
training window and its calibration on the window's last ``calibration_days`` (so the calibration sees
scores the booster was not fitted on). ``FraudModel`` scores feature frames: the mean of the members'
calibrated probabilities (averaging probabilities ranked better than averaging margins on the July
validation split, docs/BENCHMARKS.md); a feature's contribution is the mean of the members' own
TreeSHAP values (``pred_contribs``), on the margin. Platt scaling rather than isotonic: it is strictly
monotone, so calibration never ties two scores. ``save``/``load`` write a small folder: one
``booster_<i>.ubj`` per member and ``model.json``.

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
    seeds: tuple[int, ...] = (0, 1, 2)  # one booster per seed, their calibrated probabilities averaged
    features: tuple[str, ...] = tuple(FEATURE_NAMES)

    def params(self, seed: int) -> dict[str, Any]:
        return {"objective": "binary:logistic", "eval_metric": "aucpr", "tree_method": "hist",
                "max_depth": self.max_depth, "eta": self.learning_rate, "subsample": self.subsample,
                "colsample_bytree": self.colsample_bytree, "min_child_weight": self.min_child_weight,
                "nthread": self.num_threads, "seed": seed}


@dataclass
class Member:
    """One booster of the bag with its Platt calibration ``p = sigmoid(a * margin + b)``."""

    booster: xgb.Booster
    platt: tuple[float, float] = (1.0, 0.0)


@dataclass
class FraudModel:
    """Trained members over the same features; a score is the mean of their calibrated probabilities."""

    members: list[Member]
    features: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """A content hash of every booster and calibration: every score records it."""
        digest = hashlib.sha256()
        for member in self.members:
            digest.update(bytes(member.booster.save_raw("ubj")) + json.dumps(member.platt).encode())
        return digest.hexdigest()[:12]

    def _matrix(self, features: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(features[self.features].to_numpy(dtype="float32"), feature_names=self.features)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        matrix = self._matrix(features)
        total = np.zeros(matrix.num_row())
        for member in self.members:
            a, b = member.platt
            margin = member.booster.predict(matrix, output_margin=True).astype("float64")
            total += 1.0 / (1.0 + np.exp(-(a * margin + b)))
        return total / len(self.members)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per feature, the members' mean TreeSHAP contribution to their margins (the bias column is dropped)."""
        matrix = self._matrix(features)
        values = np.zeros((matrix.num_row(), len(self.features) + 1))  # [N, F + 1]: the last column is the bias
        for member in self.members:
            values += member.booster.predict(matrix, pred_contribs=True)
        return pd.DataFrame(values[:, :-1] / len(self.members), columns=self.features, index=features.index)

    def with_threads(self, threads: int) -> "FraudModel":
        """A copy whose boosters run on ``threads`` (batch scoring on the cores, online on one)."""
        members = [Member(m.booster.copy(), m.platt) for m in self.members]
        for member in members:
            member.booster.set_param({"nthread": threads})
        return FraudModel(members, list(self.features), dict(self.info))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("booster*.ubj"):
            stale.unlink()
        for i, member in enumerate(self.members):
            member.booster.save_model(folder / f"booster_{i}.ubj")
        meta = {"version": self.version, "features": self.features,
                "platt": [list(m.platt) for m in self.members], "info": self.info}
        (folder / "model.json").write_text(json.dumps(meta, indent=1, default=str) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "FraudModel":
        """A saved model; a folder of the single-booster layout (``booster.ubj``, one ``platt`` pair) loads as a bag of one."""
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        platts = meta["platt"] if isinstance(meta["platt"][0], list) else [meta["platt"]]
        files = [folder / f"booster_{i}.ubj" for i in range(len(platts))] if (folder / "booster_0.ubj").is_file() \
            else [folder / "booster.ubj"]
        members = []
        for file, platt in zip(files, platts, strict=True):
            booster = xgb.Booster()
            booster.load_model(file)
            members.append(Member(booster, (float(platt[0]), float(platt[1]))))
        model = cls(members, list(meta["features"]), meta["info"])  # a bag of one hashes as the single booster did
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


def _train_member(fit: xgb.DMatrix, later: xgb.DMatrix, amount_only: xgb.DMatrix | None, config: TrainConfig,
                  seed: int) -> Member:
    """One booster of the bag: stage 1 on the amount alone (when given), stage 2 on every feature, early-stopped and
    Platt-calibrated on ``later``."""
    stage_one = None
    if amount_only is not None:
        params = {**config.params(seed), "max_depth": config.amount_first_depth, "eta": config.amount_first_learning_rate}
        stage_one = xgb.train(params, amount_only, num_boost_round=config.amount_first_rounds, verbose_eval=False)
    booster = xgb.train(config.params(seed), fit, num_boost_round=config.num_rounds, evals=[(later, "calibration")],
                        early_stopping_rounds=config.early_stopping_rounds, verbose_eval=False, xgb_model=stage_one)
    booster = booster[: booster.best_iteration + 1]
    margin = booster.predict(later, output_margin=True).astype("float64")
    return Member(booster, fit_platt(margin, later.get_label()))


def train_model(features: pd.DataFrame, labels: np.ndarray, times: pd.Series,
                config: TrainConfig | None = None) -> FraudModel:
    """Fit each member on the rows before the last ``calibration_days``; early-stop and calibrate on those days."""
    config = config or TrainConfig()
    if not config.seeds:
        raise ValueError("TrainConfig.seeds must name at least one booster seed")
    names = list(config.features)
    times = pd.to_datetime(pd.Series(np.asarray(times)))
    split = times.max().floor("D") - pd.Timedelta(days=config.calibration_days - 1)
    early = (times < split).to_numpy()
    assert early.any() and (~early).any(), "training window shorter than the calibration slice"
    x = features[names].to_numpy(dtype="float32")
    fit = xgb.DMatrix(x[early], label=labels[early], feature_names=names)
    later = xgb.DMatrix(x[~early], label=labels[~early], feature_names=names)
    amount_only = None
    if config.amount_first_rounds and "TX_AMOUNT" in names:
        # Stage 1 sees only the amount (every other column missing, so no tree can split on it): what the
        # amount alone says is credited to the amount, and stage 2 explains only what is left. Without it
        # TreeSHAP splits the evidence of a large amount between TX_AMOUNT and the customer-relative ratios.
        only = np.full_like(x[early], np.nan)
        only[:, names.index("TX_AMOUNT")] = x[early][:, names.index("TX_AMOUNT")]
        amount_only = xgb.DMatrix(only, label=labels[early], feature_names=names)
    started = time.perf_counter()
    members = [_train_member(fit, later, amount_only, config, seed) for seed in config.seeds]
    trees = [int(member.booster.num_boosted_rounds()) for member in members]
    info = {"train_config": asdict(config), "num_fit_rows": int(early.sum()), "num_calibration_rows": int((~early).sum()),
            "fit_from": str(times[early].min()), "calibration_from": str(split), "window_end": str(times.max()),
            "num_trees": sum(trees), "member_trees": trees,
            "train_seconds": round(time.perf_counter() - started, 2)}
    return FraudModel(members, names, info)
