"""Whole customer_service conversations through the API, with the scripted fake model.

The platform is real (SQLite, Chroma, MiniLM, the ingested policy and FAQ, the agent loop with its
write confirmation and handoff); only the chat model's turns are scripted.
"""

from __future__ import annotations

from typing import Any

from moesaic.llm.base import ModelReply, ModelRequest
from moesaic.llm.fake import FakeChatModel, call, reply_with_tools
from tests.apps.customer_service.conftest import Shop

ADA = {"email": "ada.lane@example.com"}


def test_cancellation_waits_for_the_customers_yes(shop: Shop, fake_model: FakeChatModel) -> None:
    cancel = call("cancel_pending_order", {"order_id": "#W1000001", "reason": "no longer needed"})
    fake_model.add(
        reply_with_tools(call("find_user_id_by_email", ADA)),
        reply_with_tools(call("get_order_details", {"order_id": "#W1000001"})),
        reply_with_tools(cancel),
        "I can cancel order #W1000001 (T-Shirt, Water Bottle) because you no longer need it; the $42.99 goes "
        "back to your gift card right away. Shall I go ahead? Please answer yes.",
    )
    first = shop.send("Hi, I'm ada.lane@example.com. Please cancel order #W1000001, I no longer need it.")
    assert [e["name"] for e in first["tool_events"]] == ["find_user_id_by_email", "get_order_details", "cancel_pending_order"]
    assert first["tool_events"][-1]["error"] == "confirmation required"
    assert shop.order("#W1000001")["status"] == "pending"
    system = fake_model.requests[0].messages[0].content
    assert "# Store policy" in system and "Sources:" in system  # the policy, and passages from the knowledge base

    fake_model.add(reply_with_tools(cancel), "Done: order #W1000001 is cancelled and $42.99 is back on your gift card.")
    done = shop.send("yes", first["conversation_id"])
    assert done["tool_events"][0]["error"] is None
    order = shop.order("#W1000001")
    assert order["status"] == "cancelled" and order["cancel_reason"] == "no longer needed"
    assert shop.gift_card_balance("ada_lane_1001", "gift_card_1000002") == 102.99


def test_delivered_order_cancellation_is_refused_citing_the_policy(shop: Shop, fake_model: FakeChatModel) -> None:
    policy_id = shop.documents["policy.md"]
    cited: list[int] = []

    def refuse_with_policy(request: ModelRequest) -> ModelReply:
        number = next(i for i, p in enumerate(request.passages, start=1) if p.document_id == policy_id)
        cited.append(number)
        return ModelReply(
            content=f"Order #W1000002 was delivered, and only pending orders can be cancelled [{number}]. "
            "I can help you return the headphones instead."
        )

    fake_model.add(
        reply_with_tools(call("find_user_id_by_email", ADA)),
        reply_with_tools(call("get_order_details", {"order_id": "#W1000002"})),
        refuse_with_policy,
    )
    answer = shop.send("This is ada.lane@example.com: cancel my order #W1000002, which orders can be cancelled?")
    assert cited, "the policy must be among the retrieved passages"
    assert [c["document_id"] for c in answer["citations"]] == [policy_id]
    assert answer["citations"][0]["index"] == 1  # numbers are dense: the one source cited is [1]
    assert answer["choices"][0]["message"]["content"].startswith("Order #W1000002 was delivered, and only pending orders can be cancelled [1].")
    assert "pending" in answer["citations"][0]["quote"].lower() or "cancel" in answer["citations"][0]["quote"].lower()
    assert shop.order("#W1000002")["status"] == "delivered"
    assert not any(e["name"] == "cancel_pending_order" for e in answer["tool_events"])


def test_exchange_paid_by_gift_card(shop: Shop, fake_model: FakeChatModel) -> None:
    exchange = call(
        "exchange_delivered_order_items",
        {"order_id": "#W1000002", "item_ids": ["2000000021"], "new_item_ids": ["2000000023"],
         "payment_method_id": "gift_card_1000002"},
    )
    fake_model.add(
        reply_with_tools(call("find_user_id_by_email", ADA)),
        reply_with_tools(call("get_order_details", {"order_id": "#W1000002"})),
        reply_with_tools(call("get_product_details", {"product_id": "1000000003"})),
        reply_with_tools(exchange),
        "I'll exchange the black over-ear headphones for the white ones; the $10.00 difference is paid with your "
        "gift card. Is that everything you want to exchange? Reply yes to confirm.",
    )
    first = shop.send("ada.lane@example.com here. I'd like to exchange my headphones from #W1000002 for the white ones.")
    assert shop.order("#W1000002")["status"] == "delivered"

    fake_model.add(reply_with_tools(exchange), "Done: your exchange is requested; you'll get an email with the next steps.")
    shop.send("yes, that's all", first["conversation_id"])
    order = shop.order("#W1000002")
    assert order["status"] == "exchange requested"
    assert order["exchange_payment_method_id"] == "gift_card_1000002"
    assert order["exchange_price_difference"] == 10.0
    # tau2 semantics: an exchange records the difference; the balance moves when the exchange is settled.
    assert shop.gift_card_balance("ada_lane_1001", "gift_card_1000002") == 60.0


def test_item_change_paid_by_gift_card_updates_its_balance(shop: Shop, fake_model: FakeChatModel) -> None:
    modify = call(
        "modify_pending_order_items",
        {"order_id": "#W1000001", "item_ids": ["2000000011"], "new_item_ids": ["2000000012"],
         "payment_method_id": "gift_card_1000002"},
    )
    fake_model.add(
        reply_with_tools(call("find_user_id_by_email", ADA)),
        reply_with_tools(modify),
        "Swapping the 500ml bottle for the 1000ml one costs $9.35 more, paid from your gift card. Confirm with yes?",
    )
    first = shop.send("I'm ada.lane@example.com; on #W1000001 I want the 1000ml water bottle instead, pay with my gift card.")
    assert shop.gift_card_balance("ada_lane_1001", "gift_card_1000002") == 60.0

    fake_model.add(reply_with_tools(modify), "Done: the order now has the 1000ml bottle; $9.35 came off your gift card.")
    shop.send("yes", first["conversation_id"])
    assert shop.gift_card_balance("ada_lane_1001", "gift_card_1000002") == 50.65
    order = shop.order("#W1000001")
    assert order["status"] == "pending (item modified)"
    assert [(i["item_id"], i["price"]) for i in order["items"]] == [("2000000001", 24.99), ("2000000012", 27.35)]


def test_handoff_silences_the_bot_until_an_operator_hands_back(shop: Shop, fake_model: FakeChatModel) -> None:
    summary = "Ada Lane wants to dispute a charge on order #W1000002."
    fake_model.add(reply_with_tools(call("transfer_to_human_agents", {"summary": summary})))
    first = shop.send("I was charged twice for order #W1000002 and I want to talk to a human.")
    conversation_id = first["conversation_id"]
    assert first["conversation_state"] == "handed_off"
    inbox = shop.client.get("/v1/inbox", params={"app": "customer_service"}).json()["data"]
    assert [c["summary"] for c in inbox if c["id"] == conversation_id] == [summary]

    calls_before = len(fake_model.requests)
    waiting = shop.send("Hello? Is anyone there about my order?", conversation_id)
    assert waiting["conversation_state"] == "handed_off" and len(fake_model.requests) == calls_before

    assert shop.client.post(f"/v1/conversations/{conversation_id}/claim").json()["state"] == "claimed"
    operator_reply = "Hi Ada, I refunded the duplicate charge on #W1000002."
    posted = shop.client.post(f"/v1/conversations/{conversation_id}/operator-messages", json={"content": operator_reply})
    assert posted.status_code == 201
    assert shop.send("Thanks! And my order?", conversation_id)["conversation_state"] == "claimed"
    assert len(fake_model.requests) == calls_before

    assert shop.client.post(f"/v1/conversations/{conversation_id}/handback").json()["state"] == "active"
    fake_model.add("You're welcome! Anything else about your order?")
    back = shop.send("great, thank you for the refund", conversation_id)
    assert back["choices"][0]["message"]["content"] == "You're welcome! Anything else about your order?"
    assert operator_reply in [m.content for m in fake_model.requests[-1].messages]
    messages = shop.client.get(f"/v1/conversations/{conversation_id}/messages").json()["data"]
    assert ("assistant", "operator", operator_reply) in [(m["role"], m["author"], m["content"]) for m in messages]


def test_out_of_scope_request_is_refused_without_the_model(shop: Shop, fake_model: FakeChatModel) -> None:
    answer = shop.send("what's the weather going to be like in boston tomorrow?")
    assert fake_model.requests == []  # refused before any model call, so no tool can run either
    assert answer["choices"][0]["finish_reason"] == "out_of_scope"
    assert "only help with shopping" in answer["choices"][0]["message"]["content"]
    assert answer["tool_events"] == [] and answer["citations"] == []

    fake_model.add("Sure, which order?")
    follow_up: dict[str, Any] = shop.send("ok then, I need help with a return", answer["conversation_id"])
    assert follow_up["choices"][0]["message"]["content"] == "Sure, which order?"
