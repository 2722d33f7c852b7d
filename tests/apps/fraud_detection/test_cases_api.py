"""Alerts and the case queue: daily budget and threshold alerts open cases; list, get, assign, note, status,
label, each in the case's trail and the platform's audit log; a label feeds the terminal's known fraud
rate once visible (the label delay); narratives from a configured chat model, grounded, else a template."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select

from apps.fraud_detection.cases import grounded
from apps.fraud_detection.tables import FraudLabel, FraudTransaction
from moesaic.access import entries
from moesaic.llm import FakeChatModel
from tests.apps.fraud_detection.conftest import BASE, as_records


def _history_and_day(client: TestClient, history: pd.DataFrame) -> tuple[str, list[dict[str, Any]]]:
    history = history.drop(columns=["TX_FRAUD_SCENARIO"])
    cut = history["TX_DATETIME"].min().floor("D") + pd.Timedelta(days=20)
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(history[history["TX_DATETIME"] < cut])}
                       ).status_code == 201
    day = history[(history["TX_DATETIME"] >= cut) & (history["TX_DATETIME"] < cut + pd.Timedelta(days=1))]
    scored = [client.post(f"{BASE}/score", json=r).json() for r in as_records(day.drop(columns=["TX_FRAUD"]))]
    return f"{cut:%Y-%m-%d}", scored


def test_daily_budget_opens_cases_for_the_top_cards_once(client: TestClient, admin: TestClient,
                                                         small_history: pd.DataFrame) -> None:
    day, scored = _history_and_day(client, small_history)
    assert client.get(f"{BASE}/alerts/settings").json() == {"mode": "budget", "daily_budget": 100, "threshold": 0.5}
    assert client.put(f"{BASE}/alerts/settings", json={"daily_budget": 5}).status_code == 403  # admins only
    assert admin.put(f"{BASE}/alerts/settings", json={"daily_budget": 5}).json()["daily_budget"] == 5
    run = client.post(f"{BASE}/alerts:run", json={"day": day})
    assert run.status_code == 200, run.text
    opened = run.json()["opened"]
    best_per_card: dict[int, float] = {}
    customers = {s["transaction_id"]: s for s in scored}
    assert len(opened) == 5 and len({c["customer_id"] for c in opened}) == 5
    for case in opened:
        assert case["alert_rule"] == "budget:5" and case["status"] == "open" and case["narrative_source"] == "template"
        assert case["score"] == customers[case["transaction_id"]]["score"]
        best_per_card[case["customer_id"]] = case["score"]
    top_score = max(s["score"] for s in scored)
    assert top_score in best_per_card.values()  # the day's best card is alerted
    assert min(best_per_card.values()) >= sorted((s["score"] for s in scored), reverse=True)[len(scored) // 2]
    assert client.post(f"{BASE}/alerts:run", json={"day": day}).json()["opened"] == []  # idempotent per day
    more = client.post(f"{BASE}/alerts:run", json={"day": day, "k": 7}).json()["opened"]
    assert len(more) == 2 and not {c["customer_id"] for c in more} & set(best_per_card)
    listed = client.get(f"{BASE}/cases", params={"day": day}).json()
    assert listed["total"] == 7 and [c["score"] for c in listed["data"]] == sorted((c["score"] for c in listed["data"]), reverse=True)
    assert client.get(f"{BASE}/cases", params={"status": "closed"}).status_code == 400


def test_case_workflow_is_audited_and_a_label_feeds_the_terminal_feature_once_visible(
        client: TestClient, admin: TestClient, fraud_platform: Any, small_history: pd.DataFrame) -> None:
    history = small_history.head(600)
    assert client.post(f"{BASE}/transactions", json={"transactions": as_records(history)}).status_code == 201
    assert admin.put(f"{BASE}/alerts/settings", json={"mode": "threshold", "threshold": 0.5}).status_code == 200
    t0 = history["TX_DATETIME"].max() + pd.Timedelta(hours=1)
    regular = int(history["CUSTOMER_ID"].value_counts().index[0])  # a card with a history
    fresh_terminal = 99_999

    def score(tx_id: int, when: pd.Timestamp, amount: float, customer: int = regular) -> dict[str, Any]:
        answer = client.post(f"{BASE}/score", json={"TRANSACTION_ID": tx_id, "TX_DATETIME": when.isoformat(),
                                                    "CUSTOMER_ID": customer, "TERMINAL_ID": fresh_terminal, "TX_AMOUNT": amount})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    flagged = score(900_001, t0, 2_500.0)
    assert flagged["score"] >= 0.5 and flagged["case_id"], flagged
    case_id = flagged["case_id"]
    before = score(900_002, t0 + pd.Timedelta(days=7, hours=1), 20.0, customer=4)["features"]
    assert before["TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW"] == 0 and before["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0

    assert client.post(f"{BASE}/cases/{case_id}/assign", json={"assignee": "dana"}).json()["status"] == "in_review"
    note = client.post(f"{BASE}/cases/{case_id}/notes", json={"text": "called the card holder"})
    assert note.status_code == 201 and note.json()["text"] == "called the card holder"
    assert client.post(f"{BASE}/cases/{case_id}/status", json={"status": "fraud"}).status_code == 422  # only by label
    labelled = client.post(f"{BASE}/cases/{case_id}/label", json={"label": "fraud"})
    assert labelled.status_code == 200 and labelled.json()["status"] == "fraud", labelled.text
    assert client.post(f"{BASE}/cases/{case_id}/label", json={"label": "maybe"}).status_code == 422

    not_yet = score(900_003, t0 + pd.Timedelta(days=7) - pd.Timedelta(minutes=1), 20.0, customer=5)["features"]
    assert not_yet["TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW"] == 0  # the label is not visible before the delay
    after = score(900_004, t0 + pd.Timedelta(days=7, hours=2), 20.0, customer=6)["features"]
    assert after["TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW"] == 1 and after["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0
    assert after["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"] > 7

    detail = client.get(f"{BASE}/cases/{case_id}").json()
    assert detail["transaction"]["label"] == 1 and detail["transaction"]["label_source"] == "investigator"
    assert [e["action"] for e in detail["events"]] == ["opened", "assigned", "note", "labelled"]
    assert detail["notes"][0]["author"] and detail["reasons"] and detail["features"]["TX_AMOUNT"] == 2500.0
    assert detail["terminal_history"][-1]["TRANSACTION_ID"] == 900_001
    assert client.get(f"{BASE}/cases", params={"assignee": "dana", "status": "fraud"}).json()["total"] == 1
    assert client.get(f"{BASE}/cases/nope").status_code == 404
    with fraud_platform.db.session() as session:
        assert session.scalars(select(FraudTransaction.label).where(FraudTransaction.transaction_id == 900_001)).one() == 1
        label = session.scalars(select(FraudLabel).where(FraudLabel.transaction_id == 900_001)).one()
        assert (label.source, label.case_id) == ("investigator", case_id)
        tenant = label.tenant_id
    actions = [e.action for e in entries(fraud_platform.db, tenant, app="fraud_detection")]
    for action in ("fraud_detection.case_assign", "fraud_detection.case_note", "fraud_detection.case_label"):
        assert action in actions
    metrics = client.get("/metrics").text
    assert 'moesaic_fraud_labels_total{label="fraud"} 1.0' in metrics
    assert 'moesaic_fraud_alerts_total{rule="threshold"}' in metrics
    assert "moesaic_fraud_labelled_precision{" in metrics


def test_a_configured_chat_model_writes_a_grounded_narrative(client: TestClient, admin: TestClient,
                                                            fake_model: FakeChatModel) -> None:
    admin.put(f"{BASE}/alerts/settings", json={"mode": "threshold", "threshold": 0.3})
    fake_model.add("Flagged: the amount, 3,000.00, is high for customer 7.", "Flagged: the amount is 12345 times usual.")
    tx = {"TX_DATETIME": "2018-05-01T10:00:00", "CUSTOMER_ID": 7, "TERMINAL_ID": 70, "TX_AMOUNT": 3000.0}
    usual = [{**tx, "TRANSACTION_ID": 100 + d, "TX_DATETIME": f"2018-04-{10 + d}T12:00:00", "TX_AMOUNT": 30.0 + d}
             for d in range(15)]
    assert client.post(f"{BASE}/transactions", json={"transactions": usual}).status_code == 201
    first = client.post(f"{BASE}/score", json={**tx, "TRANSACTION_ID": 1}).json()
    second = client.post(f"{BASE}/score", json={**tx, "TRANSACTION_ID": 2, "TX_DATETIME": "2018-05-01T11:00:00"}).json()
    one, two = (client.get(f"{BASE}/cases/{s['case_id']}").json()["case"] for s in (first, second))
    assert (one["narrative_source"], one["narrative"]) == ("model", "Flagged: the amount, 3,000.00, is high for customer 7.")
    assert two["narrative_source"] == "template" and "12345" not in two["narrative"]  # ungrounded number refused
    assert two["narrative"].startswith("Transaction 2 (customer 7, terminal 70, amount 3,000.00")
    request = fake_model.requests[0]
    assert "reasons:" in request.messages[-1].content and first["reasons"][0]["text"] in request.messages[-1].content
    assert grounded("score 0.97 on 2018-05-01", "scored 0.97 on 2018-05-01 10:00") and not grounded("99 times", "5 times")


def test_case_routes_refuse_what_the_schema_refuses_and_name_unknown_cases(client: TestClient, admin: TestClient) -> None:
    assert admin.put(f"{BASE}/alerts/settings", json={"threshold": True}).status_code == 422  # true is no number
    assert admin.put(f"{BASE}/alerts/settings", json={"daily_budget": True}).status_code == 422
    assert admin.put(f"{BASE}/alerts/settings", json={"daily_budget": 37.0}).json()["daily_budget"] == 37  # JSON integer
    far = client.get(f"{BASE}/cases", params={"offset": 10**30})
    assert far.status_code == 422 and far.json()["error"]["param"] == "offset"
    for method, path in (("get", "cases/nope"), ("post", "cases/nope/status")):
        answer = getattr(client, method)(f"{BASE}/{path}", **({"json": {"status": "in_review"}} if method == "post" else {}))
        assert answer.status_code == 404 and answer.json()["error"]["param"] == "case_id", answer.text
