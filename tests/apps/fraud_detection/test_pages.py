"""The fraud console pages: loaded as a ``moesaic.pages`` contribution, held to the console's import rule,
and rendered in Streamlit AppTest against the real API (live uvicorn, the app with stored transactions,
scores and cases): the dashboard's charts, the queue's filters and budget run, the case page's label."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import apps.fraud_detection.pages as fraud_pages
import ui.contributions as contributions
from apps.fraud_detection.manifest import APP
from apps.fraud_detection.scoring import ARTEFACT
from moesaic.access import create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from tests.apps.fraud_detection.conftest import BASE, as_records
from tests.ui.fake_moesaic_api import LiveServer
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(fraud_pages.__file__).parent


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(url, key, day): the real API with a stored history, one scored day and its budget cases."""
    from apps.fraud_detection.schema import validate_frame
    from apps.fraud_detection.simulate import simulate_transactions
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    tmp_path = tmp_path_factory.mktemp("fraud-pages")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'moesaic.db'}",
                        datasets_dir=tmp_path / "none")
    platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP}, start_worker=True)
    key = create_api_key(platform.db, "console", name="console")
    admin = create_api_key(platform.db, "console", name="admin", role="admin")
    history = validate_frame(simulate_transactions(num_customers=30, num_terminals=40, num_days=25, seed=2))
    cut = history["TX_DATETIME"].min().floor("D") + pd.Timedelta(days=24)
    try:
        with LiveServer(create_app(platform=platform), lifespan="on") as server:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as client:
                assert client.post(f"{BASE}/transactions", json={"transactions": as_records(
                    history[history["TX_DATETIME"] < cut])}).status_code == 201
                for record in as_records(history[history["TX_DATETIME"] >= cut].drop(columns=["TX_FRAUD"])):
                    assert client.post(f"{BASE}/score", json=record).status_code == 200
                client.put(f"{BASE}/alerts/settings", json={"daily_budget": 3})
                assert len(client.post(f"{BASE}/alerts:run", json={"day": f"{cut:%Y-%m-%d}"}).json()["opened"]) == 3
            yield server.url, key, f"{cut:%Y-%m-%d}"
    finally:
        platform.close()


def page(name: str, url: str, key: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=30)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_contribution_loads_and_imports_no_core() -> None:
    contribution = contributions.load_contribution(APP.name, fraud_pages)
    assert [p.title for p in contribution.pages] == ["Fraud dashboard", "Fraud cases", "Fraud case"]
    package = "apps.fraud_detection.pages"
    assert {path.name: page_violations(path, package) for path in PAGES.rglob("*.py")} == {
        name: set() for name in ("__init__.py", "common.py", "dashboard.py", "queue.py", "case.py")}
    probe = (f"import sys, {package}; loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; "
             "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_the_dashboard_draws_scores_alerts_and_drift(live_api: tuple[str, str, str]) -> None:
    url, key, day = live_api
    at = page("dashboard.py", url, key).run()
    ok(at)
    assert at.title[0].value == "📈 Fraud dashboard"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Scores"].replace(",", "")) > 50 and metrics["Precision of labelled alerts"] == "—"
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3  # score distribution, alerts per day, drift
    drift_table = at.dataframe[0].value
    shipped_features = json.loads((ARTEFACT / "model.json").read_text(encoding="utf-8"))["features"]
    assert len(drift_table) == len(shipped_features) and set(drift_table["shift"]) <= {"stable", "moderate", "large"}


def test_the_queue_filters_and_remembers_a_case(live_api: tuple[str, str, str]) -> None:
    url, key, day = live_api
    at = page("queue.py", url, key).run()
    ok(at)
    table = at.dataframe[0].value
    assert len(table) == 3 and list(table["score"]) == sorted(table["score"], reverse=True)
    at.selectbox[0].set_value("in_review")
    at.button[0].click().run()  # the filter form's submit
    ok(at)
    assert at.info[0].value == "No cases match."
    at.selectbox[0].set_value("any")
    at.button[0].click().run()
    at.button[-1].click().run()  # "Choose this case"
    ok(at)
    assert at.session_state["fraud_case_id"] == table["case"][0]


def test_the_case_page_shows_histories_and_labels_the_case(live_api: tuple[str, str, str]) -> None:
    url, key, _ = live_api
    at = page("case.py", url, key).run()
    ok(at)
    assert at.title[0].value == "🕵️ Fraud case" and at.metric[1].value == "open"
    assert len(at.get("vega_lite_chart")) == 2  # the customer's and the terminal's history
    assert any("Transaction" in m.value for m in at.markdown)  # the narrative
    label = next(b for b in at.button if b.label == "Label fraud")
    label.click().run()
    ok(at)
    assert "Labelled fraud" in at.success[0].value
    at.run()
    assert at.metric[1].value == "fraud"


def test_a_refused_key_is_shown(live_api: tuple[str, str, str]) -> None:
    url, _, _ = live_api
    for name in ("dashboard.py", "queue.py", "case.py"):
        at = page(name, url, "msk-not-a-key").run()
        assert not at.exception and "401" in at.error[0].value, name
