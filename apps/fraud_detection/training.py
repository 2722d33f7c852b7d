"""Training the committed model, reproducibly, and writing its model card.

``train_from_frame`` fits the recipe of ``model.train_model`` on every row whose label is visible at
``until`` (dated before ``until - delay``); ``write_artefact`` saves the boosters, their metadata and
MODEL_CARD.md (data window, features, scores, reliability tables, limits) into one folder.
``moesaic apps fraud_detection train`` calls both (``commands.py``).

Not here: the leak-proof evaluation (``evaluation``), whose numbers the card quotes when given.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import EXTRA_FEATURES, HANDBOOK_FEATURES, FeatureConfig
from apps.fraud_detection.metrics import expected_calibration_error, reliability_table
from apps.fraud_detection.model import FraudModel, TrainConfig, train_model
from apps.fraud_detection.monitoring import feature_bins

ARTEFACT = Path(__file__).parent / "artefact"


def train_from_frame(frame: pd.DataFrame, *, until: datetime | None = None, label_delay_days: int = 7,
                     config: TrainConfig | None = None) -> FraudModel:
    """Train on a validated frame: features over all of it, fit on labels visible at ``until`` (default: its end)."""
    history = sort_history(frame)
    features = compute_features(history, FeatureConfig(label_delay_days=label_delay_days))
    end = pd.Timestamp(until) if until is not None else history["TX_DATETIME"].max()
    rows = ((history["TX_DATETIME"] < end - pd.Timedelta(days=label_delay_days)) & (history["TX_FRAUD"] >= 0)).to_numpy()
    model = train_model(features[rows], history["TX_FRAUD"].to_numpy()[rows], history["TX_DATETIME"][rows], config)
    calibration = rows & (history["TX_DATETIME"] >= pd.Timestamp(model.info["calibration_from"])).to_numpy()
    table = reliability_table(history["TX_FRAUD"].to_numpy()[calibration], model.predict_proba(features[calibration]))
    model.info.update({"label_delay_days": label_delay_days, "labels_visible_at": str(end),
                       "reliability_calibration_slice": table,
                       "feature_bins": feature_bins(features[rows], model.features)})
    return model


def _table(rows: list[dict[str, float]]) -> str:
    lines = ["| predicted | count | mean predicted | observed fraud rate |", "|---|---:|---:|---:|"]
    lines += [f"| {r['low']:.3f}-{r['high']:.3f} | {r['count']:,} | {r['mean_predicted']:.4f} | {r['observed_rate']:.4f} |"
              for r in rows]
    return "\n".join(lines) + f"\n\nExpected calibration error: {expected_calibration_error(rows):.4f}\n"


def model_card(model: FraudModel, evaluation: dict[str, Any] | None = None) -> str:
    """MODEL_CARD.md text for a trained model (and the evaluation of its recipe, when given)."""
    info = model.info
    parts = [
        "# Fraud detection model card\n",
        f"Version `{model.version}` (content hash of every booster and calibration; every score records it).\n",
        "## Data window\n",
        f"Simulated card transactions (Fraud Detection Handbook simulator, shared/data/fraud_handbook_sim). "
        f"Booster fitted on {info['num_fit_rows']:,} transactions from {info['fit_from']} to before "
        f"{info['calibration_from']}; Platt calibration and early stopping on the next {info['num_calibration_rows']:,} "
        f"(to {info['window_end']}). Only labels visible at {info.get('labels_visible_at')} "
        f"(label delay {info.get('label_delay_days')} days) were used.\n",
        "## Model\n",
        f"A bag of {len(model.members)} XGBoost {info.get('xgboost', '')} gradient-boosting models, one per booster seed "
        f"({', '.join(str(s) for s in info['train_config']['seeds'])}), {info['num_trees']} trees in all "
        f"({' + '.join(str(n) for n in info.get('member_trees', [info['num_trees']]))}). Each member is fitted and "
        "calibrated on its own; a score is the mean of the members' calibrated probabilities and a reason's "
        "contribution the mean of their TreeSHAP values. In each member stage 1 fits "
        f"{info['train_config']['amount_first_rounds']} trees on TX_AMOUNT alone so that the amount's own evidence "
        "is credited to it in the reasons. Settings: `" + json.dumps(info["train_config"]) + "`. Calibrations: "
        + "; ".join(f"`p = sigmoid({m.platt[0]:.4f} * margin + {m.platt[1]:.4f})`" for m in model.members) + ". "
        f"Training took {info['train_seconds']} s on 2 CPU threads.\n",
        "## Features\n",
        "The Handbook's 15: " + ", ".join(f"`{f}`" for f in HANDBOOK_FEATURES) + ".\n\nOurs: "
        + ", ".join(f"`{f}`" for f in EXTRA_FEATURES) + ".\n\nDefinitions: `apps/fraud_detection/features/definition.py` "
        "(one definition for batch and online). TX_FRAUD_SCENARIO is never an input.\n",
        "## Reliability on the calibration slice (in-sample for the two Platt parameters)\n", _table(info["reliability_calibration_slice"]),
    ]
    if evaluation:
        parts += ["## Scores of this recipe in the leak-proof evaluation\n",
                  f"Command: `{evaluation.get('command', '')}`\n",
                  "| measure | this model | XGBoost on the Handbook's 15 features (same window, same run) |",
                  "|---|---:|---:|"]
        peer = evaluation.get("peer_handbook_xgboost", {})
        for key in ("average_precision", "auc_roc", "card_precision_at_100"):
            parts.append(f"| {key} | {evaluation[key]:.4f} | {peer.get(key, float('nan')):.4f} |")
        ra = evaluation["reason_accuracy"]
        parts.append(f"\nReason accuracy (first reason's kind on true frauds): scenario 1 {ra['1']:.3f}, "
                     f"scenario 2 {ra['2']:.3f}, scenario 3 {ra['3']:.3f}" + (
                         "; on flagged frauds (p >= 0.5): " + ", ".join(f"scenario {k} {v:.3f}" for k, v in
                         evaluation["reason_accuracy_flagged"].items()) if "reason_accuracy_flagged" in evaluation else "")
                     + f". Scored {evaluation['num_scored']:,} "
                     f"transactions at {evaluation['score_tx_per_s']:,} tx/s; training {evaluation['train_seconds']} s.\n")
        if "reliability_test" in evaluation:
            parts += ["### Reliability on the test month\n", _table(evaluation["reliability_test"])]
    parts += ["## Limits\n",
              "- Trained and measured on simulated data only; real card data has other fraud patterns and drift.\n"
              "- A compromised terminal is visible only through its known frauds: its first `delay` days of fraud "
              "carry no evidence (about a quarter of scenario-2 frauds in August), and their reasons cannot name the terminal.\n"
              "- A compromised card whose inflated amount is also high in absolute terms is explained by the amount first.\n"
              "- Calibration holds for the fraud rate of the training window; refit it when the base rate moves.\n"
              "- Features assume transactions arrive in time order per customer and terminal (late ones within the "
              "30+delay-day horizon are handled; older ones are not).\n"]
    return "\n".join(parts)


def write_artefact(model: FraudModel, folder: Path = ARTEFACT, evaluation: dict[str, Any] | None = None) -> Path:
    """Save the model and its card into ``folder``; returns the card's path."""
    import xgboost

    model.info["xgboost"] = xgboost.__version__
    model.save(folder)
    card = folder / "MODEL_CARD.md"
    card.write_text(model_card(model, evaluation), encoding="utf-8")
    return card
