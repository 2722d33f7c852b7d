"""Data lifecycle of the shipped apps (issue 16), through the API on SQLite and PostgreSQL: erasing a data
subject (by email or customer id) or a whole tenant removes the apps' own data too (the customer_service
store, the fraud tables with the terminals' feature state, medical_ner's notes and results), with one audit
row counting what went; the tenant's export holds the apps' data. Another tenant's data is untouched."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from moesaic.config import Settings
from tests.conftest import DATABASES, DATASETS_DIR, schema_database_url

EMAIL, USER = "ada.lane@example.com", "ada_lane_1001"  # a user of the demo store, with orders #W1000001 and #W1000002
CARD, OTHER_CARD, TERMINAL = 7, 8, 3
FRAUD = "/v1/apps/fraud_detection"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from schema_database_url(request, tmp_path, "apperase")


@pytest.fixture
def platform(tmp_path: Path, database_url: str, fake_model):  # type: ignore[no-untyped-def]
    from apps.customer_service.manifest import APP as CS
    from apps.fraud_detection.manifest import APP as FD
    from apps.medical_ner.manifest import APP as NER
    from moesaic.services import Platform

    # an empty datasets folder: the store seeds from the shipped demo store
    settings = Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=tmp_path / "none")
    cs = CS.model_copy(update={"knowledge_documents": None})
    built = Platform.create(settings, model=fake_model, apps={a.name: a for a in (cs, FD, NER)})
    yield built
    built.close()


class Tenant:
    """A tenant's data in the three apps: its store (seeded), scored card transactions with cases, and a
    medical_ner upload with its results (one note names the data subject)."""

    def __init__(self, platform, client) -> None:  # type: ignore[no-untyped-def]
        from apps.medical_ner.jobs import results_path, save_upload
        from apps.medical_ner.notes_file import Note
        from moesaic.access import create_api_key
        from moesaic.access.keys import ensure_tenant

        name = f"tenant-{secrets.token_hex(4)}"
        self.headers = {"Authorization": f"Bearer {create_api_key(platform.db, name, role='admin')}"}
        self.id = ensure_tenant(platform.db, name)
        self.client = client
        platform.app_context("customer_service").services["store"].ensure_seeded(self.id)
        assert self.call("put", f"{FRAUD}/alerts/settings", json={"mode": "threshold", "threshold": 1e-6}).status_code == 200
        for tx, card in ((1, CARD), (2, CARD), (3, OTHER_CARD)):
            body = {"TRANSACTION_ID": tx, "TX_DATETIME": f"2026-11-0{tx}T10:00:00", "CUSTOMER_ID": card,
                    "TERMINAL_ID": TERMINAL, "TX_AMOUNT": 25.0 * tx}
            scored = self.call("post", f"{FRAUD}/score", json=body)
            assert scored.status_code == 200 and scored.json()["case_id"], scored.text
        case = self.call("get", f"{FRAUD}/cases").json()["data"][0]["id"]
        assert self.call("post", f"{FRAUD}/cases/{case}/notes", json={"text": "called the card holder"}).status_code == 201
        home = Path(platform.settings.home)
        notes = [Note("n1", f"Patient ({EMAIL}) has asthma."), Note("n2", "No fever today."), Note(USER, "Cough.")]
        save_upload(home, self.id, "up1", notes)
        results = results_path(home, self.id, "job1")
        results.parent.mkdir(parents=True)
        results.write_text("".join(
            json.dumps({"id": n.id, "text": n.text, "entities": []}) + "\n" for n in notes[:2]), encoding="utf-8")

    def call(self, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.client.request(method, path, headers=self.headers, **kwargs)


@pytest.fixture
def world(platform):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from moesaic.api.main import create_app

    with TestClient(create_app(platform=platform)) as client:
        yield Tenant(platform, client), Tenant(platform, client)


def _store_users(platform, tenant_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    from apps.customer_service.store import User

    with platform.db.session() as session:
        return set(session.scalars(select(User.email).where(User.tenant_id == tenant_id)))


def _count(platform, table: Any, tenant_id: str, *where: Any) -> int:  # type: ignore[no-untyped-def]
    with platform.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(table.tenant_id == tenant_id, *where)) or 0)


def _audits(platform, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    from moesaic.access.tables import AuditRecord

    with platform.db.session() as session:
        return [(row.action, dict(row.detail or {})) for row in session.scalars(
            select(AuditRecord).where(AuditRecord.tenant_id == tenant_id, AuditRecord.action.like("erase%")))]


def _files(platform, tenant_id: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    folder = Path(platform.settings.home) / "medical_ner" / tenant_id
    return {p.name: [json.loads(line)["id"] for line in p.read_text().splitlines()] for p in sorted(folder.rglob("*.jsonl"))}


def test_erasing_a_subject_by_email_reaches_the_store_and_the_notes(platform, world) -> None:  # type: ignore[no-untyped-def]
    from apps.customer_service.store import Order

    mine, other = world
    before = _store_users(platform, mine.id)
    response = mine.call("post", "/v1/data-subjects/erase", json={"email": EMAIL.upper()})
    assert response.status_code == 200, response.text
    removed = response.json()["removed"]
    assert removed["cs_users"] == 1 and removed["cs_orders"] == 2 and removed["cs_order_items"] >= 2
    assert removed["cs_addresses"] == 3 and removed["cs_payment_methods"] >= 1
    assert removed["medical_ner_upload_notes"] == 1 and removed["medical_ner_result_notes"] == 1
    assert _store_users(platform, mine.id) == before - {EMAIL}
    assert _count(platform, Order, mine.id, Order.user_id == USER) == 0
    assert _files(platform, mine.id) == {"up1.jsonl": ["n2", USER], "job1.jsonl": ["n2"]}  # results stay a prefix
    assert _audits(platform, mine.id) == [("erase data subject", {"removed": removed})]  # one row, all counts
    assert EMAIL in _store_users(platform, other.id)
    assert _files(platform, other.id)["job1.jsonl"] == ["n1", "n2"]


def test_erasing_a_card_holder_by_customer_id_reaches_the_fraud_data(platform, world) -> None:  # type: ignore[no-untyped-def]
    from apps.fraud_detection.tables import CaseNote, FeatureStateRow, FraudCase, FraudScore, FraudTransaction

    mine, other = world
    response = mine.call("post", "/v1/data-subjects/erase", json={"customer_id": str(CARD)})
    assert response.status_code == 200, response.text
    removed = response.json()["removed"]
    assert removed["fraud_detection_transactions"] == 2 and removed["fraud_detection_scores"] == 2
    assert removed["fraud_detection_cases"] == 2 and removed["fraud_detection_feature_state"] == 1
    assert removed["fraud_detection_terminal_history_entries"] == 2
    assert removed.get("fraud_detection_case_notes", 0) + _count(platform, CaseNote, mine.id) == 1  # with its case
    for table in (FraudTransaction, FraudScore, FraudCase):
        assert _count(platform, table, mine.id, table.customer_id == CARD) == 0
        assert _count(platform, table, mine.id, table.customer_id == OTHER_CARD) == 1
        assert _count(platform, table, other.id, table.customer_id == CARD) == 2
    with platform.db.session() as session:
        terminal = session.scalars(select(FeatureStateRow).where(
            FeatureStateRow.tenant_id == mine.id, FeatureStateRow.kind == "terminal")).one()
        assert terminal.history["id"] == [3] and len(terminal.history["cents"]) == 1
    assert mine.call("get", f"{FRAUD}/cases").json()["total"] == 1
    assert [a for a, _ in _audits(platform, mine.id)] == ["erase data subject"]
    by_user = mine.call("post", "/v1/data-subjects/erase", json={"customer_id": USER}).json()["removed"]
    assert by_user["cs_users"] == 1 and by_user["medical_ner_upload_notes"] == 1  # the store's and a note's id
    assert not any(k.startswith("fraud_detection") for k in by_user)


def test_export_and_erasure_of_a_tenant_hold_the_apps_data(platform, world) -> None:  # type: ignore[no-untyped-def]
    from apps.customer_service.store import User
    from apps.fraud_detection.tables import FraudTransaction

    mine, other = world
    exported = mine.call("get", "/v1/tenant/export").json()["apps"]
    assert EMAIL in {u["email"] for u in exported["customer_service"]["cs_users"]}
    assert {r["customer_id"] for r in exported["fraud_detection"]["fraud_detection_transactions"]} == {CARD, OTHER_CARD}
    assert [r["id"] for r in exported["medical_ner"]["medical_ner_results"]] == ["n1", "n2"]
    assert other.id not in json.dumps(exported)

    response = mine.call("post", "/v1/tenant/erase", json={"confirm": mine.id})
    assert response.status_code == 200, response.text
    removed = response.json()["removed"]
    assert removed["cs_users"] == len(_store_users(platform, other.id)) and removed["cs_products"] > 0
    assert removed["fraud_detection_transactions"] == 3 and removed["medical_ner_files"] == 2
    assert _store_users(platform, mine.id) == set() and _count(platform, User, other.id) > 0
    assert _count(platform, FraudTransaction, mine.id) == 0 and _count(platform, FraudTransaction, other.id) == 3
    assert _files(platform, mine.id) == {} and len(_files(platform, other.id)) == 2
    assert _audits(platform, mine.id) == [("erase tenant", {"removed": removed})]
