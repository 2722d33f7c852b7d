"""Retraining (promoted only when it beats the active model on the latest labelled window; rollback; every
score records the version it was made with) and monitoring (PSI drift against the training bins that the
artefact stores, the monitoring route, Prometheus metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.model import FraudModel, TrainConfig, train_model
from apps.fraud_detection.monitoring import SCORE_BUCKETS, drift, feature_bins, observe_many, proportions, psi
from apps.fraud_detection.scoring import ARTEFACT
from tests.apps.fraud_detection.conftest import BASE, as_records, wait_for_job

SMALL = {"window_days": 7, "num_rounds": 40, "calibration_days": 5}


def _promote_a_poor_model(platform: Any, tenant: str, history: pd.DataFrame, folder: Path) -> str:
    """A model fitted on shuffled labels, promoted: the one a retrained model must beat."""
    history = sort_history(history)
    labels = np.random.default_rng(0).permutation(history["TX_FRAUD"].to_numpy())
    poor = train_model(compute_features(history), labels, history["TX_DATETIME"],
                       TrainConfig(num_rounds=10, calibration_days=5))
    poor.info["label_delay_days"] = 7
    poor.save(folder)
    ctx = platform.app_context("fraud_detection")
    ctx.models.register(tenant, "fraud_detection", "scorer", poor.version, str(folder))
    ctx.models.promote(tenant, "fraud_detection", "scorer", poor.version, by="test")
    return poor.version


def test_retrain_promotes_only_a_better_model_and_can_be_rolled_back(
        client: TestClient, admin: TestClient, fraud_platform: Any, small_history: pd.DataFrame, tmp_path: Path) -> None:
    from moesaic.access import ensure_tenant

    history = small_history.drop(columns=["TX_FRAUD_SCENARIO"])
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(history)}).status_code == 201
    tenant = ensure_tenant(fraud_platform.db, "alice")
    poor = _promote_a_poor_model(fraud_platform, tenant, history, tmp_path / "poor")
    admin.put(f"{BASE}/alerts/settings", json={"mode": "threshold", "threshold": 0.01})
    unusual = {"TRANSACTION_ID": 10**6, "TX_DATETIME": "2018-05-08T12:00:00", "CUSTOMER_ID": 1, "TERMINAL_ID": 1,
               "TX_AMOUNT": 5_000.0}  # day 38 of the history: inside the latest labelled window
    case_id = client.post(f"{BASE}/score", json=unusual).json()["case_id"]
    assert client.post(f"{BASE}/cases/{case_id}/label", json={"label": "fraud"}).status_code == 200
    assert client.post(f"{BASE}/models:retrain", json=SMALL).status_code == 403  # admins only
    job = wait_for_job(admin, admin.post(f"{BASE}/models:retrain", json=SMALL).json()["job_id"])
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["promoted"] is True and result["current_version"] == poor
    assert result["ap_candidate"] > result["ap_current"] and result["window_frauds"] > 0
    assert result["investigator_labels"] == 1  # the case's label is a training/evaluation label
    models = client.get(f"{BASE}/models").json()["data"][0]
    assert models["active"] == result["version"]
    tx = {"TRANSACTION_ID": 10**7, "TX_DATETIME": "2018-05-11T10:00:00", "CUSTOMER_ID": 3, "TERMINAL_ID": 5, "TX_AMOUNT": 40}
    assert client.post(f"{BASE}/score", json=tx).json()["model_version"] == result["version"]

    again = wait_for_job(admin, admin.post(f"{BASE}/models:retrain", json=SMALL).json()["job_id"])["result"]
    assert again["current_version"] == result["version"]
    assert again["promoted"] is (again["ap_candidate"] > again["ap_current"])  # the rule, whichever way it went
    if not again["promoted"]:
        assert client.get(f"{BASE}/models").json()["data"][0]["active"] == result["version"]

    active = client.get(f"{BASE}/models").json()["data"][0]["active"]
    rolled = admin.post(f"{BASE}/models/scorer/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] != active
    rescored = client.post(f"{BASE}/score", json={**tx, "TRANSACTION_ID": 10**7 + 1}).json()
    assert rescored["model_version"] == rolled.json()["version"]


def test_retrain_refuses_without_both_labels(admin: TestClient, client: TestClient, small_history: pd.DataFrame) -> None:
    history = small_history.drop(columns=["TX_FRAUD_SCENARIO", "TX_FRAUD"]).head(200)
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(history)}).status_code == 201
    job = wait_for_job(admin, admin.post(f"{BASE}/models:retrain", json=SMALL).json()["job_id"])
    assert job["state"] == "failed" and "no labelled transactions" in job["error"]
    assert admin.post(f"{BASE}/models:retrain", json={"window_days": 0}).status_code == 422


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"a": rng.normal(0, 1, 20_000), "b": np.where(rng.random(20_000) < 0.1, np.nan, 1.0)})
    bins = feature_bins(train, ["a", "b"])
    assert len(bins["a"]["edges"]) == 9 and abs(sum(bins["a"]["expected"]) - 1) < 1e-9
    same = [{"a": float(v), "b": 1.0} for v in rng.normal(0, 1, 5_000)]
    shifted = [{"a": float(v), "b": None} for v in rng.normal(1.5, 1, 5_000)]
    assert drift(bins, same)["a"] < 0.02
    assert drift(bins, shifted)["a"] > 0.25 and drift(bins, shifted)["b"] > 1  # all missing where 10% were
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert proportions(np.array([0.0, 1.0, 2.0, np.nan]), [0.5, 1.5]) == [0.25, 0.25, 0.25, 0.25]


def test_monitoring_route_shows_scores_alerts_precision_and_drift(client: TestClient, admin: TestClient,
                                                                  small_history: pd.DataFrame) -> None:
    history = small_history.drop(columns=["TX_FRAUD_SCENARIO"])
    cut = history["TX_DATETIME"].min().floor("D") + pd.Timedelta(days=20)
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(history[history["TX_DATETIME"] < cut])}
                       ).status_code == 201
    day = history[(history["TX_DATETIME"] >= cut) & (history["TX_DATETIME"] < cut + pd.Timedelta(days=1))]
    for record in as_records(day.drop(columns=["TX_FRAUD"])):
        assert client.post(f"{BASE}/score", json=record).status_code == 200
    admin.put(f"{BASE}/alerts/settings", json={"daily_budget": 4})
    cases = client.post(f"{BASE}/alerts:run", json={"day": f"{cut:%Y-%m-%d}"}).json()["opened"]
    client.post(f"{BASE}/cases/{cases[0]['id']}/label", json={"label": "fraud"})
    client.post(f"{BASE}/cases/{cases[1]['id']}/label", json={"label": "legitimate"})
    body = client.get(f"{BASE}/monitoring").json()
    assert body["num_scores"] == len(day) and sum(h["count"] for h in body["score_histogram"]) == len(day)
    assert body["alerts_per_day"] == [{"day": f"{cut:%Y-%m-%d}", "alerts": 4, "budget": 4, "labelled": 2, "frauds": 1}]
    assert body["labelled_precision"] == 0.5 and body["num_labelled_cases"] == 2
    shipped = FraudModel.load(ARTEFACT)
    assert set(body["drift"]) == set(shipped.info["feature_bins"]) == set(shipped.features)
    assert body["drift_rows"] == len(day) and all(v >= 0 for v in body["drift"].values())
    metrics = client.get("/metrics").text
    assert 'moesaic_fraud_alerts_total{rule="budget"} 4.0' in metrics
    assert "moesaic_fraud_labelled_precision" in metrics and "0.5" in metrics


def test_observing_many_scores_at_once_counts_as_observing_each() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    values = np.r_[np.random.default_rng(3).random(500), 0.0, 0.001, 0.003, 1.0]  # bounds land in their own bucket
    one_by_one, at_once = CollectorRegistry(), CollectorRegistry()
    for registry in (one_by_one, at_once):
        Histogram("s", "scores", ["source"], buckets=SCORE_BUCKETS, registry=registry)
    for value in values:
        one_by_one._names_to_collectors["s"].labels("batch").observe(float(value))  # type: ignore[attr-defined]
    observe_many(at_once._names_to_collectors["s"].labels("batch"), values)  # type: ignore[attr-defined]

    def lines(registry: CollectorRegistry) -> dict[str, float]:
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in generate_latest(registry).decode().splitlines()
                if line.startswith("s_") and not line.startswith("s_created")}

    expected, got = lines(one_by_one), lines(at_once)
    assert expected.keys() == got.keys() and expected['s_count{source="batch"}'] == len(values)
    assert all(abs(expected[k] - got[k]) < 1e-9 * max(1.0, expected[k]) for k in expected)
