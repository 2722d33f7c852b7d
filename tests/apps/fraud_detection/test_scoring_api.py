"""Scoring: online features read from the stored state equal the batch features of the same history; the
score route (stored, versioned, reasons in words, idempotent, 4xx on bad input); batch scoring as a job
whose CSV equals online scoring of the same transactions."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import FEATURE_NAMES, FeatureConfig
from apps.fraud_detection.ingest import store_frame
from apps.fraud_detection.batch_scoring import REASONS_MIN_SCORE
from apps.fraud_detection.reasons import explain
from apps.fraud_detection.scoring import score_transaction
from apps.fraud_detection.tables import FraudScore, FraudTransaction
from tests.apps.fraud_detection.conftest import BASE, as_records, wait_for_job


def _split(history: pd.DataFrame, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = history["TX_DATETIME"].min().floor("D") + pd.Timedelta(days=days)
    return history[history["TX_DATETIME"] < cut], history[history["TX_DATETIME"] >= cut]


def _tenant(platform: Any) -> str:
    from moesaic.access import ensure_tenant

    return str(ensure_tenant(platform.db, "alice"))


def test_online_features_from_stored_state_equal_batch_features(fraud_platform: Any, small_history: pd.DataFrame) -> None:
    history = small_history.drop(columns=["TX_FRAUD_SCENARIO"])
    stored, later = _split(history, 30)
    later = later.head(400)
    tenant = _tenant(fraud_platform)
    ctx = fraud_platform.app_context("fraud_detection")
    model = ctx.services["model_cache"].current(tenant)
    with fraud_platform.db.session() as session:
        store_frame(session, tenant, stored.iloc[:1000], source="import")  # two imports: state merges across them
    with fraud_platform.db.session() as session:
        store_frame(session, tenant, stored.iloc[1000:], source="import")
    online = []
    for record in later.to_dict("records"):
        tx = {**record, "TX_DATETIME": record["TX_DATETIME"].to_pydatetime(), "TX_FRAUD": None}
        with fraud_platform.db.session() as session:
            online.append(score_transaction(session, tenant, tx, model))
    # the batch view of the same history: labels known for the stored part, unknown for the scored part
    whole = sort_history(pd.concat([stored, later.assign(TX_FRAUD=-1)], ignore_index=True))
    batch = compute_features(whole, FeatureConfig(label_delay_days=model.label_delay_days))
    batch = batch[whole["TRANSACTION_ID"].isin(later["TRANSACTION_ID"]).to_numpy()]
    online_matrix = np.array([[r.features[name] for name in FEATURE_NAMES] for r in online])
    assert np.array_equal(online_matrix, batch[FEATURE_NAMES].to_numpy(), equal_nan=True)
    assert batch["TERMINAL_ID_RISK_7DAY_WINDOW"].max() > 0  # the stored labels reached the known-fraud windows
    expected = model.model.predict_proba(batch)
    assert np.allclose([r.score for r in online], expected, rtol=1e-6, atol=1e-7)
    worded = explain(batch.iloc[:50], model.model.contributions(batch.iloc[:50]))
    assert [[x.text for x in reasons] for reasons in worded] == [[x.text for x in r.reasons] for r in online[:50]]


def test_score_route_stores_a_versioned_score_with_reasons(client: TestClient, fraud_platform: Any,
                                                           small_history: pd.DataFrame) -> None:
    first, rest = _split(small_history.drop(columns=["TX_FRAUD_SCENARIO"]), 20)
    stored = client.post(f"{BASE}/transactions", json={"transactions": as_records(first)})
    assert stored.status_code == 201, stored.text
    tx = {**as_records(rest.head(1))[0], "TX_AMOUNT": 900.0}
    answer = client.post(f"{BASE}/score", json=tx)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    versions = client.get(f"{BASE}/models").json()["data"][0]
    assert body["model_version"] == versions["active"] and body["stored_transaction"] is True
    assert body["score"] > 0.5 and body["reasons"][0]["kind"] in ("amount", "customer")
    assert "900.00" in body["reasons"][0]["text"] or "times this customer's" in body["reasons"][0]["text"]
    again = client.post(f"{BASE}/score", json=tx).json()
    assert again["stored_transaction"] is False and again["score"] == body["score"]  # scored again, not re-added
    with fraud_platform.db.session() as session:
        scores = session.scalars(select(FraudScore).where(FraudScore.transaction_id == tx["TRANSACTION_ID"])).all()
        assert [s.model_version for s in scores] == [body["model_version"]] * 2
        assert scores[0].reasons[0]["text"] == body["reasons"][0]["text"]
        assert session.scalars(select(FraudTransaction).where(
            FraudTransaction.transaction_id == tx["TRANSACTION_ID"])).one().amount_cents == 90_000
    conflict = client.post(f"{BASE}/score", json={**tx, "TX_AMOUNT": 1.0})
    assert conflict.status_code == 409 and conflict.json()["error"]["param"] == "TRANSACTION_ID"
    for field, value in (("TX_AMOUNT", -1), ("CUSTOMER_ID", "abc"), ("TX_DATETIME", "2999-01-01T00:00:00")):
        bad = client.post(f"{BASE}/score", json={**tx, "TRANSACTION_ID": 10**9, field: value})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == field, bad.text
    missing = client.post(f"{BASE}/score", json={k: v for k, v in tx.items() if k != "TERMINAL_ID"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "TERMINAL_ID"
    # one audit row per successful score, written in the score's own transaction; none for the refused ones
    from moesaic.access import entries

    audited = [(e.action, e.status, e.app) for e in entries(fraud_platform.db, _tenant(fraud_platform))]
    assert audited.count(("POST /score", 200, "fraud_detection")) == 2 and len(audited) == 3  # + the transactions
    metrics = client.get("/metrics").text
    assert 'moesaic_fraud_scores_count{source="api"} 2.0' in metrics
    assert "moesaic_fraud_scoring_latency_seconds_count 2.0" in metrics


def test_batch_scoring_job_equals_online_scoring(client: TestClient, small_history: pd.DataFrame) -> None:
    history = small_history.drop(columns=["TX_FRAUD_SCENARIO"])
    first, rest = _split(history, 25)
    rest = rest.head(120)
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(first)}).status_code == 201
    upload = rest.drop(columns=["TX_FRAUD"]).to_csv(index=False).encode()
    accepted = client.post(f"{BASE}/score:batch", files={"file": ("later.csv", upload, "text/csv")})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    job = wait_for_job(client, job_id)
    assert job["state"] == "succeeded" and job["result"]["num_scored"] == 120, job
    csv = client.get(f"{BASE}/score:batch/{job_id}/results")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    batch = pd.read_csv(io.StringIO(csv.text))
    assert list(batch.columns) == ["TRANSACTION_ID", "score", "model_version", "reason_kind", "reason"]
    online = {}
    for record in as_records(rest.drop(columns=["TX_FRAUD"])):
        online[record["TRANSACTION_ID"]] = client.post(f"{BASE}/score", json=record).json()
    assert np.allclose(batch["score"], [online[i]["score"] for i in batch["TRANSACTION_ID"]], rtol=1e-6, atol=1e-7)
    worth = (batch["score"] >= REASONS_MIN_SCORE).to_numpy()
    assert 0 < worth.sum() < len(batch)
    first_reasons = [online[i]["reasons"][0]["text"] for i in batch["TRANSACTION_ID"][worth]]
    assert batch["reason"][worth].tolist() == first_reasons
    assert batch["reason"][~worth].isna().all()  # no reasons below the cut (an empty CSV field)
    assert client.get(f"{BASE}/score:batch/{accepted.json()['job_id']}x/results").status_code == 404


def test_concurrent_scores_of_one_card_lose_no_transaction_from_the_state(client: TestClient, fraud_platform: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from apps.fraud_detection.tables import FeatureStateRow

    def score(i: int) -> int:
        body = {"TRANSACTION_ID": 500 + i, "TX_DATETIME": f"2018-05-01T10:{i:02d}:00", "CUSTOMER_ID": 42,
                "TERMINAL_ID": 7 + i % 2, "TX_AMOUNT": 10.0 + i}
        return client.post(f"{BASE}/score", json=body).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(score, range(24))) == [200] * 24
    with fraud_platform.db.session() as session:
        states = {(s.kind, s.entity_id): s.history["id"] for s in session.scalars(select(FeatureStateRow))}
    assert sorted(states[("customer", 42)]) == [500 + i for i in range(24)]
    assert sorted(states[("terminal", 7)] + states[("terminal", 8)]) == [500 + i for i in range(24)]
