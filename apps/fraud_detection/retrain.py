"""Retraining on stored transactions with their labels (investigators' labels included), promoted only
when better.

The latest labelled window is the last ``window_days`` days (by transaction time) of labelled stored
transactions. The candidate is trained (``model.train_model``, the committed recipe) on the labelled
transactions before that window, so the window is unseen by it; the candidate and the tenant's active
model both score the window (features over the whole stored history, the label delay respected) and
the candidate is promoted only when its average precision there is higher. Either way it is saved under
``<home>/fraud_detection/<tenant>/models/<version>`` and registered in the platform's model registry
(``candidate`` when not promoted); ``rollback`` returns to the version the last promotion replaced.

Not here: the job plumbing (``jobs``), the HTTP routes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from apps.fraud_detection.batch_scoring import THREADS
from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.metrics import average_precision
from apps.fraud_detection.model import TrainConfig, train_model
from apps.fraud_detection.monitoring import feature_bins
from apps.fraud_detection.scoring import APP, MODEL_NAME
from moesaic.jobs import FailJob

MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 1, 60


def _int(payload: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = payload.get(key, default)
    if not isinstance(value, int) or not low <= value <= high:
        raise FailJob(f"payload {key!r} must be a whole number from {low} to {high} (got {value!r})")
    return value


def retrain(ctx: Any, tenant_id: str, payload: dict[str, Any], *, by: str) -> dict[str, Any]:
    from apps.fraud_detection.jobs import app_dir, stored_history

    window_days = _int(payload, "window_days", 7, MIN_WINDOW_DAYS, MAX_WINDOW_DAYS)
    config = TrainConfig()
    if "num_rounds" in payload:
        config = replace(config, num_rounds=_int(payload, "num_rounds", 400, 5, 2000))
    if "calibration_days" in payload:
        config = replace(config, calibration_days=_int(payload, "calibration_days", 14, 1, 60))
    cache = ctx.services["model_cache"]
    current = cache.current(tenant_id)
    feature_config = FeatureConfig(label_delay_days=current.label_delay_days)
    with ctx.db.session() as session:
        history = sort_history(stored_history(session, tenant_id))
    labelled = (history["TX_FRAUD"] >= 0).to_numpy()
    if not labelled.any():
        raise FailJob("no labelled transactions are stored; label cases or import labelled transactions first")
    when = history["TX_DATETIME"]
    window_start = when[labelled].max().floor("D") - pd.Timedelta(days=window_days - 1)
    fit_rows = labelled & (when < window_start).to_numpy()
    window_rows = labelled & (when >= window_start).to_numpy()
    labels = history["TX_FRAUD"].to_numpy().astype("int64")
    for name, rows in (("training", fit_rows), ("latest labelled window", window_rows)):
        if len(set(labels[rows])) < 2:
            raise FailJob(f"the {name} (window starts {window_start:%Y-%m-%d}) needs both fraud and legitimate labels")
    if when[fit_rows].dt.floor("D").nunique() <= config.calibration_days:
        raise FailJob(f"training needs more than {config.calibration_days} days of labelled transactions before "
                      f"{window_start:%Y-%m-%d} (the calibration slice)")
    features = compute_features(history, feature_config)
    candidate = train_model(features[fit_rows], labels[fit_rows], when[fit_rows], config)
    candidate.info.update({"label_delay_days": feature_config.label_delay_days, "trained_by": by,
                           "labels_visible_at": str(window_start),
                           "feature_bins": feature_bins(features[fit_rows], candidate.features)})
    window_labels = labels[window_rows]
    ap_candidate = average_precision(window_labels, candidate.predict_proba(features[window_rows]))
    ap_current = average_precision(window_labels, current.batch_copy(THREADS).predict_proba(features[window_rows]))
    folder = app_dir(Path(ctx.settings.home), tenant_id) / "models" / candidate.version
    candidate.save(folder)
    metrics = {"window_start": str(window_start.date()), "window_days": window_days,
               "window_rows": int(window_rows.sum()), "window_frauds": int(window_labels.sum()),
               "ap_candidate": round(ap_candidate, 4), "ap_current": round(ap_current, 4),
               "current_version": current.version, "num_fit_rows": int(fit_rows.sum()),
               "investigator_labels": int((history["LABEL_SOURCE"].to_numpy() == "investigator")[fit_rows | window_rows].sum())}
    versions = {v.version for v in ctx.models.versions(tenant_id, APP, MODEL_NAME)}
    if candidate.version not in versions:
        ctx.models.register(tenant_id, APP, MODEL_NAME, candidate.version, str(folder), metrics=metrics,
                            note=f"retrained on {int(fit_rows.sum())} labelled transactions before {window_start:%Y-%m-%d}")
    promoted = ap_candidate > ap_current and candidate.version != current.version
    if promoted:
        ctx.models.promote(tenant_id, APP, MODEL_NAME, candidate.version, by=by)
        cache.forget(tenant_id)
    return {"version": candidate.version, "promoted": promoted, **metrics}
