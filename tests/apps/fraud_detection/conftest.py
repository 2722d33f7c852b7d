"""Fixtures of the fraud app's API tests: a platform with the app (SQLite, and PostgreSQL when
MOESAIC_TEST_DATABASE_URL is set) and its embedded job queue, clients for an operator and an admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from apps.fraud_detection.manifest import APP
from apps.fraud_detection.simulate import simulate_transactions
from moesaic.access import create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel

BASE = "/v1/apps/fraud_detection"


@pytest.fixture
def fake_model() -> FakeChatModel:
    return FakeChatModel()


@pytest.fixture
def fraud_platform(tmp_path: Path, fresh_database_url: str, fake_model: FakeChatModel) -> Iterator[Any]:
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", database_url=fresh_database_url, datasets_dir=tmp_path / "none")
    built = Platform.create(settings, model=fake_model, apps={APP.name: APP}, start_worker=True)
    built.app_context(APP.name).services["model_cache"].ttl_s = 0.0  # see promotions at once
    yield built
    built.close()


def _client(platform: Any, role: str, tenant: str = "alice") -> Iterator[TestClient]:
    from moesaic.api.main import create_app

    key = create_api_key(platform.db, tenant, role=role)
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


@pytest.fixture
def client(fraud_platform: Any) -> Iterator[TestClient]:
    yield from _client(fraud_platform, "operator")


@pytest.fixture
def admin(fraud_platform: Any) -> Iterator[TestClient]:
    yield from _client(fraud_platform, "admin")


def wait_for_job(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("state") in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as API bodies (ISO datetimes, plain numbers, TX_FRAUD only where known)."""
    out = []
    for row in frame.itertuples(index=False):
        record = {"TRANSACTION_ID": int(row.TRANSACTION_ID), "TX_DATETIME": pd.Timestamp(row.TX_DATETIME).isoformat(),
                  "CUSTOMER_ID": int(row.CUSTOMER_ID), "TERMINAL_ID": int(row.TERMINAL_ID), "TX_AMOUNT": float(row.TX_AMOUNT)}
        if "TX_FRAUD" in frame.columns and int(row.TX_FRAUD) >= 0:
            record["TX_FRAUD"] = int(row.TX_FRAUD)
        out.append(record)
    return out


@pytest.fixture(scope="session")
def small_history() -> pd.DataFrame:
    """A few thousand simulated transactions over 40 days (validated, time-sorted)."""
    from apps.fraud_detection.features.batch import sort_history
    from apps.fraud_detection.schema import validate_frame

    raw = simulate_transactions(num_customers=40, num_terminals=60, num_days=40, seed=5)
    return sort_history(validate_frame(raw))
