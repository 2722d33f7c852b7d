"""The manifest: setup builds the store, which seeds each tenant's store once, on first use; offline rules; the system prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from apps.customer_service import tools
from apps.customer_service.manifest import APP, setup
from apps.customer_service.prompts import build_system_prompt
from apps.customer_service.rules import offline_rules
from apps.customer_service.store import Order, User
from moesaic.apps import RuleCall, ToolContext
from moesaic.config import Settings
from moesaic.db import Database
from tests.apps.customer_service.conftest import call


def _count(db: Database, column, tenant_id: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return int(session.scalar(select(func.count(column)).where(column.table.c.tenant_id == tenant_id)) or 0)


def _migrated(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    db.migrate(version_locations=[APP.migrations])
    return db


def test_setup_seeds_a_tenants_demo_store_once_on_first_use_without_the_dataset(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "no-data")
    db = _migrated(settings)
    services = setup(db, settings)
    assert services["reference_compat"] is False
    assert _count(db, User.user_id, "t1") == 0  # nothing is seeded before the tenant uses the store
    ctx = ToolContext("t1", "c1", "customer_service", db, settings, services=services)
    assert call(tools.find_user_id_by_email, ctx, email="chen.wu@example.com").output == "chen_wu_1003"
    assert _count(db, User.user_id, "t1") == 3 and _count(db, Order.order_id, "t1") == 4
    again = setup(db, settings)  # a second start (a fresh store handle) must not seed again
    ctx = ToolContext("t1", "c1", "customer_service", db, settings, services=again)
    assert call(tools.get_order_details, ctx, order_id="#W1000001").error is None
    assert _count(db, Order.order_id, "t1") == 4
    db.dispose()


def test_setup_seeds_the_dataset_when_present(tmp_path: Path, tau2_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home", datasets_dir=tau2_dir.parent)
    db = _migrated(settings)
    services = setup(db, settings)
    ctx = ToolContext("t1", "c1", "customer_service", db, settings, services=services)
    assert call(tools.find_user_id_by_name_zip, ctx, first_name="Yusuf", last_name="Rossi", zip="19122").output == (
        "yusuf_rossi_9620"
    )
    assert _count(db, User.user_id, "t1") == 500 and _count(db, Order.order_id, "t1") == 1000
    db.dispose()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my order #W2378156?", [RuleCall("get_order_details", {"order_id": "#W2378156"})]),
        ("my email is Ada.Lane@example.com", [RuleCall("find_user_id_by_email", {"email": "Ada.Lane@example.com"})]),
        (
            "Hi, I am Yusuf Rossi, zip code 19122.",
            [RuleCall("find_user_id_by_name_zip", {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"})],
        ),
        ("tell me about product 6086499569", [RuleCall("get_product_details", {"product_id": "6086499569"})]),
        ("what is the weather like?", []),
    ],
)
def test_offline_rules_derive_lookups(text: str, expected: list[RuleCall]) -> None:
    assert offline_rules(text) == expected


def test_offline_rules_only_propose_read_tools() -> None:
    calls = offline_rules("I am Ada Lane 97201, cancel #W1000001 and #W1000002, item 2000000001")
    assert {c.tool for c in calls} <= {spec.name for spec in APP.tools if not spec.writes}
    assert [c.arguments for c in calls if c.tool == "get_order_details"] == [
        {"order_id": "#W1000001"},
        {"order_id": "#W1000002"},
    ]


def test_system_prompt_carries_the_policy(tmp_path: Path) -> None:
    demo = build_system_prompt(Settings(datasets_dir=tmp_path))
    assert "Demo store policy" in demo and "authenticate" in demo.lower()
    assert "transfer_to_human_agents" in APP.system_prompt
