"""The app's tables and the transactions API: single and batch (atomic), file and SQL imports, bad input
(a 4xx naming the field, nothing half-written). SQLite, and PostgreSQL with MOESAIC_TEST_DATABASE_URL."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from apps.fraud_detection.manifest import MIGRATIONS
from apps.fraud_detection.tables import TABLES, FeatureStateRow, FraudLabel, FraudTransaction
from moesaic.db import Database
from tests.apps.fraud_detection.conftest import BASE, as_records, wait_for_job

GOOD = {"TRANSACTION_ID": 1, "TX_DATETIME": "2018-04-01T00:00:31", "CUSTOMER_ID": 5, "TERMINAL_ID": 9, "TX_AMOUNT": 10.5}


def count(platform: Any, table: Any = FraudTransaction) -> int:
    with platform.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_migration_creates_every_table_tenant_scoped(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    try:
        db.migrate(version_locations=[MIGRATIONS])
        db.migrate(version_locations=[MIGRATIONS])  # idempotent
        inspector = inspect(db.engine)
        for table in TABLES:
            name = table.__tablename__
            columns = {c["name"] for c in inspector.get_columns(name)}
            assert "tenant_id" in columns, name
            assert set(table.__table__.columns.keys()) == columns, name  # migration and model agree
            assert any(i["column_names"] == ["tenant_id"] for i in inspector.get_indexes(name)), name
    finally:
        db.dispose()


def test_single_and_batch_are_stored_with_state_and_labels(client: TestClient, fraud_platform: Any) -> None:
    single = client.post(f"{BASE}/transactions", json=GOOD)
    assert single.status_code == 201, single.text
    assert single.json() == {"num_received": 1, "num_stored": 1, "num_duplicates": 0, "num_labels": 0}
    batch = [{**GOOD, "TRANSACTION_ID": 2, "TX_AMOUNT": 20, "TX_FRAUD": 1},
             {**GOOD, "TRANSACTION_ID": 3, "TERMINAL_ID": 10, "TX_DATETIME": "2018-04-01T03:00:00+02:00"}, GOOD]
    stored = client.post(f"{BASE}/transactions", json={"transactions": batch})
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"num_received": 3, "num_stored": 2, "num_duplicates": 1, "num_labels": 1}
    with fraud_platform.db.session() as session:
        rows = {r.transaction_id: r for r in session.scalars(select(FraudTransaction))}
        assert rows[3].tx_datetime == pd.Timestamp("2018-04-01T01:00:00").to_pydatetime()  # +02:00 -> naive UTC
        assert rows[2].label == 1 and rows[2].label_source == "api" and rows[1].label == -1
        assert rows[1].amount_cents == 1050 and len({r.tenant_id for r in rows.values()}) == 1
        states = {(s.kind, s.entity_id): s.history for s in session.scalars(select(FeatureStateRow))}
        assert states[("customer", 5)]["id"] == [1, 2, 3] and states[("customer", 5)]["label"] == [-1, 1, -1]
        assert states[("terminal", 9)]["id"] == [1, 2] and states[("terminal", 10)]["id"] == [3]
        assert session.scalar(select(func.count()).select_from(FraudLabel)) == 1


def test_a_batch_with_bad_rows_stores_nothing_and_names_every_bad_row(client: TestClient, fraud_platform: Any) -> None:
    rows = [GOOD,
            {**GOOD, "TRANSACTION_ID": "12x"},                      # malformed id
            {**GOOD, "TRANSACTION_ID": 3, "TX_AMOUNT": -4},          # negative amount
            {**GOOD, "TRANSACTION_ID": 4, "TX_DATETIME": "2999-01-01T00:00:00"},  # future
            {k: v for k, v in GOOD.items() if k != "TERMINAL_ID"} | {"TRANSACTION_ID": 5},  # missing field
            {**GOOD, "TRANSACTION_ID": 6, "TX_FRAUD": 3}]
    answer = client.post(f"{BASE}/transactions", json={"transactions": rows})
    assert answer.status_code == 400, answer.text
    problems = {(e["index"], e["field"]) for e in answer.json()["errors"]}
    assert problems == {(1, "TRANSACTION_ID"), (2, "TX_AMOUNT"), (3, "TX_DATETIME"), (4, "TERMINAL_ID"), (5, "TX_FRAUD")}
    assert answer.json()["error"]["param"] == "transactions[1].TRANSACTION_ID"
    assert "in the future" in answer.text and "5 bad transaction row(s), nothing stored" in answer.text
    assert count(fraud_platform) == 0 and count(fraud_platform, FeatureStateRow) == 0
    single = client.post(f"{BASE}/transactions", json={**GOOD, "TX_AMOUNT": -1})
    assert single.status_code == 400 and single.json()["errors"][0]["field"] == "TX_AMOUNT"


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_file_import_validates_at_once_and_stores_in_a_job(client: TestClient, fraud_platform: Any,
                                                           small_history: pd.DataFrame, monkeypatch: Any) -> None:
    frame = small_history.head(300).drop(columns=["TX_FRAUD_SCENARIO"])
    accepted = client.post(f"{BASE}/transactions:import", files={"file": ("tx.csv", _csv(frame), "text/csv")})
    assert accepted.status_code == 202, accepted.text
    job = wait_for_job(client, accepted.json()["job_id"])
    assert job["state"] == "succeeded", job
    assert job["result"] == {"num_received": 300, "num_stored": 300, "num_duplicates": 0,
                             "num_labels": int((frame["TX_FRAUD"] >= 0).sum())}
    assert count(fraud_platform) == 300
    again = client.post(f"{BASE}/transactions:import", files={"file": ("tx.parquet", _parquet(frame), "application/octet-stream")})
    assert wait_for_job(client, again.json()["job_id"])["result"]["num_duplicates"] == 300

    bad_cases = {
        "missing column": (frame.drop(columns=["TX_AMOUNT"]), "TX_AMOUNT"),
        "negative amount": (frame.assign(TX_AMOUNT=frame["TX_AMOUNT"].where(frame.index != 7, -3.0)), "TX_AMOUNT"),
        "malformed id": (frame.astype({"CUSTOMER_ID": str}).assign(
            CUSTOMER_ID=lambda f: f["CUSTOMER_ID"].where(f.index != 9, "C-9")), "CUSTOMER_ID"),
        "future date": (frame.assign(TX_DATETIME=frame["TX_DATETIME"].where(frame.index != 4, pd.Timestamp("2100-01-01"))),
                        "TX_DATETIME"),
    }
    for what, (bad, field) in bad_cases.items():
        bad = bad.assign(TRANSACTION_ID=bad["TRANSACTION_ID"] + 10_000)
        answer = client.post(f"{BASE}/transactions:import", files={"file": ("bad.csv", _csv(bad), "text/csv")})
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["error"]["param"] == field, what
        assert field in answer.json()["error"]["message"], what
    monkeypatch.setenv("MOESAIC_FRAUD_MAX_UPLOAD_BYTES", "1000")
    big = client.post(f"{BASE}/transactions:import", files={"file": ("big.csv", _csv(frame), "text/csv")})
    assert big.status_code == 413 and big.json()["error"]["param"] == "file", big.text
    assert "over the limit of 1,000 bytes" in big.json()["error"]["message"]
    unknown = client.post(f"{BASE}/transactions:import", files={"file": ("tx.xlsx", b"x", "application/octet-stream")})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "file"
    assert count(fraud_platform) == 300  # nothing of the bad files was written
    incoming = list((Path(fraud_platform.settings.home) / "fraud_detection").glob("*/incoming/*"))
    assert incoming == []  # refused uploads are not left on disk


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_sql_import_is_for_admins_and_reads_any_sqlalchemy_url(client: TestClient, admin: TestClient, fraud_platform: Any,
                                                               small_history: pd.DataFrame, tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    engine = sa.create_engine(source)
    small_history.head(50).to_sql("card_tx", engine, index=False)
    engine.dispose()
    body = {"url": source, "table": "card_tx"}
    assert client.post(f"{BASE}/transactions:import-sql", json=body).status_code == 403  # operators may not
    missing = admin.post(f"{BASE}/transactions:import-sql", json={**body, "table": "nope"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "table"
    accepted = admin.post(f"{BASE}/transactions:import-sql", json=body)
    assert accepted.status_code == 202, accepted.text
    assert wait_for_job(admin, accepted.json()["job_id"])["result"]["num_stored"] == 50
    assert count(fraud_platform) == 50


@pytest.mark.parametrize("url", ["0", "nosuchdialect://x/y", "sqlite:///{tmp}/absent.db",
                                 "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_an_unusable_sql_url_is_a_400_naming_url_and_creates_nothing(admin: TestClient, tmp_path: Path, url: str) -> None:
    url = url.format(tmp=tmp_path)
    for route in ("transactions:import-sql", "score:batch-sql"):
        answer = admin.post(f"{BASE}/{route}", json={"url": url, "table": "card_tx"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == "url", answer.text
    assert not (tmp_path / "absent.db").exists()  # SQLite would have created the file on connect


def test_tenants_do_not_see_or_collide_with_each_other(fraud_platform: Any, client: TestClient) -> None:
    from moesaic.access import create_api_key

    assert client.post(f"{BASE}/transactions", json=GOOD).status_code == 201
    bob = create_api_key(fraud_platform.db, "bob")
    other = client.post(f"{BASE}/transactions", json=GOOD, headers={"Authorization": f"Bearer {bob}"})
    assert other.json()["num_stored"] == 1  # same TRANSACTION_ID, other tenant: no duplicate
    with fraud_platform.db.session() as session:
        assert len(set(session.scalars(select(FraudTransaction.tenant_id)))) == 2
    assert as_records(pd.DataFrame([GOOD]).assign(TX_DATETIME=pd.to_datetime([GOOD["TX_DATETIME"]])))[0]["TX_AMOUNT"] == 10.5
