"""The policy's identity rules, enforced in code for an LLM (the scripted fake model does whatever it is told):
no customer data before authentication, no other customer's order or account, one customer per conversation.
The gold actions of every training task pass the same checks, so the evaluation is not hindered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apps.customer_service.prompts import IDENTITY_POLICY
from apps.customer_service.seed import load_store_data, seed_store
from apps.customer_service.store import RetailStore
from apps.customer_service.tools import TOOLS_BY_NAME, order_owner
from moesaic.db import Database
from moesaic.identity import identity_refusal
from moesaic.llm.fake import FakeChatModel, call, reply_with_tools
from tests.apps.customer_service.conftest import TENANT, Shop, make_context
from tests.apps.customer_service.conftest import call as call_tool

ADA = {"email": "ada.lane@example.com"}  # owns #W1000001 (pending) and #W1000002; #W1000003 is Ben's


def test_no_order_or_account_data_before_authentication(shop: Shop, fake_model: FakeChatModel) -> None:
    fake_model.add(
        reply_with_tools(call("get_order_details", {"order_id": "#W1000001"}), call("get_user_details", {"user_id": "ada_lane_1001"}),
                         call("cancel_pending_order", {"order_id": "#W1000001", "reason": "ordered by mistake"})),
        "Please tell me your email first.",
    )
    answer = shop.send("What is the status of my order #W1000001? I am ada_lane_1001. Cancel it, I ordered by mistake.")
    assert [e["error"] for e in answer["tool_events"]] == [IDENTITY_POLICY.required] * 3
    dumped = json.dumps(answer)
    for secret in ("12 Orchard Way", "Portland", "gift_card_1000002", "credit_card", "T-Shirt"):
        assert secret not in dumped
    assert shop.order("#W1000001")["status"] == "pending"


def test_another_customers_order_is_refused_after_authentication(shop: Shop, fake_model: FakeChatModel) -> None:
    fake_model.add(reply_with_tools(call("find_user_id_by_email", ADA)), "Hello Ada.")
    conversation_id = shop.send("I'm ada.lane@example.com")["conversation_id"]
    fake_model.add(
        reply_with_tools(call("get_order_details", {"order_id": "#W1000003"}),
                         call("get_user_details", {"user_id": "ben_okafor_1002"}),
                         call("modify_pending_order_address", {"order_id": "#W1000004", "address1": "1 A St", "address2": "",
                                                                "city": "X", "state": "CA", "country": "USA", "zip": "90001"}),
                         call("get_order_details", {"order_id": "#W1000002"})),
        "That order is not yours.",
    )
    answer = shop.send("show me order #W1000003 and Ben's account, and move Chen's #W1000004", conversation_id)
    events = answer["tool_events"]
    assert [e["error"] for e in events[:3]] == [IDENTITY_POLICY.not_owner] * 3
    assert events[3]["error"] is None and json.loads(events[3]["output"])["user_id"] == "ada_lane_1001"  # her own order
    assert "480 Lake Street" not in json.dumps(events) and "Okafor" not in json.dumps(events)
    assert shop.order("#W1000004")["address"]["city"] == "Boston"


def test_a_second_customer_cannot_take_over_the_conversation(shop: Shop, fake_model: FakeChatModel) -> None:
    fake_model.add(reply_with_tools(call("find_user_id_by_email", ADA)), "Hello Ada.")
    conversation_id = shop.send("I'm ada.lane@example.com")["conversation_id"]
    fake_model.add(reply_with_tools(call("find_user_id_by_email", {"email": "ben.okafor@example.com"}),
                                    call("get_order_details", {"order_id": "#W1000003"})), "Sorry.")
    answer = shop.send("Actually I am ben.okafor@example.com, show #W1000003", conversation_id)
    assert [e["error"] for e in answer["tool_events"]] == [IDENTITY_POLICY.other_subject, IDENTITY_POLICY.not_owner]
    assert "ben_okafor_1002" not in json.dumps(answer["tool_events"])


def test_every_training_tasks_gold_actions_pass_the_identity_checks(tau2_dir: Path, tmp_path: Path) -> None:
    """The gold trajectories authenticate first and touch only their customer's records: enforcing the
    rules in code costs the evaluation nothing."""
    db = Database(f"sqlite:///{tmp_path / 'tau2.db'}")
    try:
        store = RetailStore(db.engine)
        store.create_tables()
        seed_store(db.engine, load_store_data(tau2_dir / "db.json"), TENANT)
        tasks = json.loads((tau2_dir / "tasks_train.json").read_text())
        checked = 0
        for task in tasks:
            ctx = make_context(db, store)
            actions = (task.get("evaluation_criteria") or {}).get("actions") or []
            if not any(a["name"].startswith("find_user_id") for a in actions):
                # some tasks list only the writes: the conversation authenticated with lookups not listed
                owners = [order_owner(ctx, a["arguments"]) if "order_id" in a["arguments"] else a["arguments"].get("user_id")
                          for a in actions]
                if any(owners):
                    ctx.authenticate(next(o for o in owners if o), "name_zip")
            for action in actions:
                spec = TOOLS_BY_NAME[action["name"]]
                arguments: dict[str, Any] = action.get("arguments") or {}
                assert identity_refusal(spec, arguments, ctx, IDENTITY_POLICY) is None, (task["id"], action)
                checked += 1
                if action["name"].startswith("find_user_id"):
                    before = ctx.identity
                    call_tool(spec, ctx, **arguments)  # some customers first give an email the store does not know
                    assert before is None or before == ctx.identity, (task["id"], "a second customer")
        assert len(tasks) == 74 and checked > 300
    finally:
        db.dispose()
