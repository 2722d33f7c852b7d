"""Monitoring: the app's Prometheus metrics, on the platform's registry, and feature drift (PSI).

``FraudMetrics`` registers on ``ctx.metrics.registry`` (so ``GET /metrics`` shows them next to the
platform's): scores (histogram of calibrated scores), scoring latency, alerts opened (counter, per
rule), labels given (counter, per label) and labelled precision (gauge: fraud labels over all labels of
alerted cases, refreshed when a case is labelled or when ``/monitoring`` is read).

Drift: ``feature_bins`` takes decile edges of each feature over the training rows (stored in the model
artefact's ``model.json`` as ``info.feature_bins`` with the training proportions); ``psi`` compares
the proportions of recent scores' features with them: PSI = sum over bins of (p - q) * ln(p / q),
proportions floored at 1e-4. Missing values (NaN) are a bin of their own. Rule of thumb: < 0.1 stable,
0.1 to 0.25 moderate shift, > 0.25 large shift.

Not here: the routes that expose them (``routes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import Counter, Gauge, Histogram

SCORE_BUCKETS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
NUM_BINS = 10
FLOOR = 1e-4


class FraudMetrics:
    def __init__(self, registry: Any) -> None:
        self.scores = Histogram("moesaic_fraud_scores", "Calibrated fraud scores of single and batch scoring",
                                ["source"], buckets=SCORE_BUCKETS, registry=registry)
        self.latency = Histogram("moesaic_fraud_scoring_latency_seconds", "Time to score one transaction (features, "
                                 "model, reasons, storage)", buckets=LATENCY_BUCKETS, registry=registry)
        self.alerts = Counter("moesaic_fraud_alerts", "Cases opened by alerts", ["rule"], registry=registry)
        self.labels = Counter("moesaic_fraud_labels", "Investigator labels given", ["label"], registry=registry)
        self.precision = Gauge("moesaic_fraud_labelled_precision", "Share of labelled alerted cases that were fraud",
                               ["tenant"], registry=registry)


def metrics_of(ctx: Any) -> FraudMetrics:
    """The app's metrics on this context's registry (registered once per registry)."""
    registry = ctx.metrics.registry
    found = ctx.services.get("fraud_metrics")
    if found is None or found[0] is not registry:
        found = (registry, FraudMetrics(registry))
        ctx.services["fraud_metrics"] = found
    return found[1]  # type: ignore[no-any-return]


def observe_many(histogram: Any, values: np.ndarray) -> None:
    """``histogram.observe`` of many values, counted per bucket with numpy (a batch job's scores: one
    ``observe`` each costs seconds over a million rows). Falls back to one ``observe`` a value on a
    ``prometheus_client`` whose histogram keeps its counts differently."""
    values = np.asarray(values, dtype="float64")
    bounds, buckets, total = (getattr(histogram, name, None) for name in ("_upper_bounds", "_buckets", "_sum"))
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values.tolist():
            histogram.observe(value)
        return
    counts = np.bincount(np.searchsorted(np.asarray(bounds, dtype="float64"), values, side="left"), minlength=len(bounds))
    for bucket, count in zip(buckets, counts.tolist()):
        if count:
            bucket.inc(count)
    total.inc(float(values.sum()))


def feature_bins(features: pd.DataFrame, names: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """Per feature: inner decile edges over the training rows and the training proportions of each bin
    (the last proportion is the share of missing values)."""
    out: dict[str, dict[str, list[float]]] = {}
    for name in names:
        values = features[name].to_numpy(dtype="float64")
        present = values[~np.isnan(values)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, NUM_BINS + 1)[1:-1])) if len(present) else np.array([])
        out[name] = {"edges": [float(e) for e in edges], "expected": proportions(values, edges)}
    return out


def proportions(values: np.ndarray, edges: np.ndarray | Sequence[float]) -> list[float]:
    """Share of values per bin (``len(edges) + 1`` bins, right-closed like ``np.digitize(right=True)``), then NaN."""
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    counts = np.bincount(np.digitize(values[~missing], np.asarray(edges, dtype="float64"), right=True),
                         minlength=len(edges) + 1).astype("float64")
    counts = np.append(counts, missing.sum())
    return [float(c) for c in counts / max(len(values), 1)]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    p = np.maximum(np.asarray(actual, dtype="float64"), FLOOR)
    q = np.maximum(np.asarray(expected, dtype="float64"), FLOOR)
    return float(np.sum((p - q) * np.log(p / q)))


def drift(bins: Mapping[str, Mapping[str, list[float]]], rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """PSI of each feature of ``rows`` (feature dicts; None is missing) against the training bins."""
    out: dict[str, float] = {}
    for name, spec in bins.items():
        values = np.array([np.nan if r.get(name) is None else float(r[name]) for r in rows], dtype="float64")
        out[name] = round(psi(spec["expected"], proportions(values, spec["edges"])), 4)
    return out
