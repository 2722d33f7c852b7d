"""The manifest: setup creates and seeds the store once; offline rules; the system prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from apps.customer_service import tools
from apps.customer_service.manifest import APP, setup
from apps.customer_service.prompts import build_system_prompt
from apps.customer_service.rules import offline_rules
from apps.customer_service.store import Order, User
from moesaic.apps import AppContext, RuleCall, ToolContext
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.llm import FakeChatModel
from tests.apps.customer_service.conftest import call


def _count(db: Database, column) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return int(session.scalar(select(func.count(column))) or 0)


def run_setup(db: Database, settings: Settings) -> dict[str, object]:
    """Run the app's setup on a context of its own; return the services it provided."""
    context = AppContext(app=APP.name, settings=settings, db=db, model=FakeChatModel(), knowledge=None, metrics=None)  # type: ignore[arg-type]
    setup(context)
    return context.services


def test_setup_seeds_the_demo_store_once_without_the_dataset(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "no-data")
    db = Database(settings.resolved_database_url)
    services = run_setup(db, settings)
    assert services["reference_compat"] is False
    assert _count(db, User.user_id) == 3 and _count(db, Order.order_id) == 4
    run_setup(db, settings)  # a second start must not seed again
    assert _count(db, Order.order_id) == 4
    ctx = ToolContext("t1", "c1", "customer_service", db, settings, services=services)
    assert call(tools.find_user_id_by_email, ctx, email="chen.wu@example.com").output == "chen_wu_1003"
    db.dispose()


def test_setup_seeds_the_dataset_when_present(tmp_path: Path, tau2_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home", datasets_dir=tau2_dir.parent)
    db = Database(settings.resolved_database_url)
    services = run_setup(db, settings)
    assert _count(db, User.user_id) == 500 and _count(db, Order.order_id) == 1000
    ctx = ToolContext("t1", "c1", "customer_service", db, settings, services=services)
    assert call(tools.find_user_id_by_name_zip, ctx, first_name="Yusuf", last_name="Rossi", zip="19122").output == (
        "yusuf_rossi_9620"
    )
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
    assert "transfer_to_human_agents" in APP.system_prompt_for(Settings(datasets_dir=tmp_path))


def test_system_prompt_follows_the_settings_like_the_knowledge_documents(tmp_path: Path) -> None:
    from apps.customer_service.knowledge import knowledge_documents

    (tmp_path / "tau2_retail").mkdir()
    (tmp_path / "tau2_retail" / "policy.md").write_text("# Retail agent policy\nOnly refunds on Tuesdays.")
    settings = Settings(datasets_dir=tmp_path)
    assert "Only refunds on Tuesdays." in APP.system_prompt_for(settings)
    assert b"Only refunds on Tuesdays." in dict(knowledge_documents(settings))["policy.md"]
    assert "Only refunds on Tuesdays." not in APP.system_prompt_for(Settings(datasets_dir=tmp_path / "none"))
