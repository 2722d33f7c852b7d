"""The operator desk's routes of customer_service: the customer beside a conversation, and the store's tools
run by an operator (confirmation, identity and ownership, audit, the conversation told); plus a whole offline
conversation where a return asked of the bot ends with an operator running it."""

from __future__ import annotations

from typing import Any

import pytest

from apps.customer_service.dialogue import RETURN_OFFER
from apps.customer_service.prompts import IDENTITY_POLICY
from moesaic.access import create_account, create_api_key, entries, sign_in
from moesaic.llm import ExtractiveModel
from tests.apps.customer_service.conftest import Shop

DESK = "/v1/apps/customer_service/desk/conversations"


@pytest.fixture
def cs_model() -> Any:
    return ExtractiveModel()


def operator_headers(shop: Shop, username: str = "olivia", name: str = "Olivia Reyes") -> dict[str, str]:
    """A console account's session: the operator appears by name."""
    try:
        create_account(shop.platform.db, shop.tenant_id, username, "correct horse battery", display_name=name)
    except Exception:  # the session's platform keeps accounts between tests
        pass
    key, _, _ = sign_in(shop.platform.db, shop.tenant_id, username, "correct horse battery")
    return {"Authorization": f"Bearer {key}"}


def key_headers(shop: Shop, role: str, tenant: str = "shop-tenant") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(shop.platform.db, tenant, role=role)}"}


def authenticated_conversation(shop: Shop) -> str:
    return str(shop.send("Hi, I'm ada.lane@example.com")["conversation_id"])


def run(shop: Shop, conversation_id: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return shop.client.post(f"{DESK}/{conversation_id}/tool-runs", json=body, headers=headers or {})


RETURN = {"tool": "return_delivered_order_items", "reason": "arrived broken",
          "arguments": {"order_id": "#W1000002", "item_ids": ["2000000021"], "payment_method_id": "credit_card_1000001"}}


def test_customer_view_shows_identity_account_and_orders_with_exchange_options(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    view = shop.client.get(f"{DESK}/{conversation}/customer", headers=key_headers(shop, "viewer"))
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["identity"]["subject"] == "ada_lane_1001" and body["identity"]["method"] == "email"
    assert body["user"]["email"] == "ada.lane@example.com"
    assert [o["order_id"] for o in body["orders"]] == ["#W1000002", "#W1000001"]  # newest first
    delivered = body["orders"][0]
    assert delivered["status"] == "delivered" and "exchange_options" in delivered
    assert "exchange_options" not in body["orders"][1]


def test_customer_view_before_authentication_is_empty(shop: Shop) -> None:
    conversation = shop.send("hello, what are your opening hours?")["conversation_id"]
    body = shop.client.get(f"{DESK}/{conversation}/customer").json()
    assert body == {"conversation_id": conversation, "identity": None, "user": None, "orders": []}


def test_desk_routes_keep_other_tenants_and_other_apps_out(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    other = key_headers(shop, "admin", tenant="other-shop")
    assert shop.client.get(f"{DESK}/{conversation}/customer", headers=other).status_code == 404
    assert run(shop, conversation, other, **RETURN).status_code == 404
    kb_chat = shop.client.post("/v1/apps/kb_assistant/conversations", json={})
    if kb_chat.status_code == 201:  # only when kb_assistant is installed beside the app
        missing = shop.client.get(f"{DESK}/{kb_chat.json()['id']}/customer")
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "conversation_id"
    limited = {"Authorization": f"Bearer {create_api_key(shop.platform.db, 'shop-tenant', apps=['kb_assistant'])}"}
    assert shop.client.get(f"{DESK}/{conversation}/customer", headers=limited).status_code in (403, 404)


def test_viewer_may_look_but_not_run_tools(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    refused = run(shop, conversation, key_headers(shop, "viewer"), **RETURN)
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "role"
    assert shop.order("#W1000002")["status"] == "delivered"


def test_write_is_described_until_confirmed_then_runs_audited_and_told_to_the_customer(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    headers = operator_headers(shop)
    preview = run(shop, conversation, headers, **RETURN)
    assert preview.status_code == 200, preview.text
    assert preview.json()["status"] == "needs_confirmation"
    assert "return items 2000000021 of order #W1000002 (reason: arrived broken)" in preview.json()["summary"]
    assert shop.order("#W1000002")["status"] == "delivered"  # nothing changed yet

    done = run(shop, conversation, headers, confirm=True, **RETURN)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done" and done.json()["output"]["status"] == "return requested"
    order = shop.order("#W1000002")
    assert order["status"] == "return requested" and order["return_items"] == ["2000000021"]

    rows = [e for e in entries(shop.platform.db, shop.tenant_id, action="desk tool return_delivered_order_items")]
    assert rows and rows[0].principal_name == "Olivia Reyes" and rows[0].principal_kind == "account"
    assert rows[0].detail["reason"] == "arrived broken" and rows[0].target == conversation and rows[0].status == 200

    messages = shop.client.get(f"/v1/conversations/{conversation}/messages").json()["data"]
    said, output = messages[-2], messages[-1]
    assert said["author"] == "operator" and said["name"] == "Olivia Reyes" and said["id"] == done.json()["message_id"]
    assert said["tool_calls"][0]["name"] == "return_delivered_order_items" and "Olivia Reyes" in said["content"]
    assert output["role"] == "tool" and output["tool_call_id"] == said["tool_calls"][0]["id"]
    assert "return requested" in output["content"]


def test_another_customers_order_is_refused_and_nothing_changes(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    cancel = {"tool": "cancel_pending_order", "arguments": {"order_id": "#W1000004", "reason": "ordered by mistake"}}
    refused = run(shop, conversation, confirm=True, **cancel)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == IDENTITY_POLICY.not_owner
    assert refused.json()["error"]["param"] == "arguments"
    assert shop.order("#W1000004")["status"] == "pending"


def test_no_customer_yet_is_a_409_until_a_lookup_authenticates_the_conversation(shop: Shop) -> None:
    conversation = shop.send("hello there")["conversation_id"]
    refused = run(shop, conversation, tool="get_order_details", arguments={"order_id": "#W1000002"})
    assert refused.status_code == 409 and refused.json()["error"]["param"] == "conversation_id"
    found = run(shop, conversation, tool="find_user_id_by_email", arguments={"email": "ada.lane@example.com"})
    assert found.status_code == 200 and found.json()["customer"] == "ada_lane_1001"
    looked = run(shop, conversation, tool="get_order_details", arguments={"order_id": "#W1000002"})
    assert looked.status_code == 200 and looked.json()["output"]["order_id"] == "#W1000002"
    assert looked.json()["message_id"] is None  # a lookup is the operator's, not told to the customer
    other = run(shop, conversation, tool="find_user_id_by_email", arguments={"email": "ben.okafor@example.com"})
    assert other.status_code == 409 and other.json()["error"]["message"] == IDENTITY_POLICY.other_subject


def test_bad_input_names_the_field(shop: Shop) -> None:
    conversation = authenticated_conversation(shop)
    unknown = run(shop, conversation, tool="calculate", arguments={"expression": "1+1"})
    assert unknown.status_code == 422 and "tool" in unknown.json()["error"]["message"]
    bad = run(shop, conversation, tool="get_order_details", arguments={"order": "#W1000002"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "arguments"
    refused = run(shop, conversation, confirm=True, tool="cancel_pending_order",
                  arguments={"order_id": "#W1000002", "reason": "ordered by mistake"})
    assert refused.status_code == 409 and "Non-pending order cannot be cancelled" in refused.json()["error"]["message"]
    failed = [e for e in entries(shop.platform.db, shop.tenant_id, action="desk tool cancel_pending_order")]
    assert failed and failed[0].status == 409  # a refused run is audited too
    missing = shop.client.get(f"{DESK}/no-such-conversation/customer")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "conversation_id"


def test_offline_return_request_is_handed_off_and_an_operator_runs_it(shop: Shop) -> None:
    """The whole path: the customer asks the bot for a return -> hand-off -> the operator sees customer and
    orders, runs the return with confirmation -> the store shows it, the audit log names the operator."""
    conversation = shop.send("I'm ada.lane@example.com")["conversation_id"]
    asked = shop.send("I want to return the headphones from order #W1000002, they arrived broken", conversation)
    assert RETURN_OFFER in asked["choices"][0]["message"]["content"] and asked["tool_events"] == []
    handed = shop.send("yes", conversation)
    assert handed["conversation_state"] == "handed_off"

    headers = operator_headers(shop, "sam", "Sam Whitaker")
    inbox = shop.client.get("/v1/inbox", headers=headers).json()["data"]
    item = next(i for i in inbox if i["id"] == conversation)
    assert item["customer"] == "ada_lane_1001" and item["waiting_since"] is not None and "return" in item["summary"]
    assert shop.client.post(f"/v1/conversations/{conversation}/claim", headers=headers).status_code == 200
    claimed = next(i for i in shop.client.get("/v1/inbox").json()["data"] if i["id"] == conversation)
    assert claimed["operator"] == "Sam Whitaker"

    customer = shop.client.get(f"{DESK}/{conversation}/customer", headers=headers).json()
    delivered = next(o for o in customer["orders"] if o["order_id"] == "#W1000002")
    body = {"tool": "return_delivered_order_items", "reason": "arrived broken",
            "arguments": {"order_id": "#W1000002", "item_ids": [delivered["items"][0]["item_id"]],
                          "payment_method_id": delivered["payment_history"][0]["payment_method_id"]}}
    assert run(shop, conversation, headers, **body).json()["status"] == "needs_confirmation"
    assert run(shop, conversation, headers, confirm=True, **body).json()["status"] == "done"

    assert shop.order("#W1000002")["status"] == "return requested"
    audit = entries(shop.platform.db, shop.tenant_id, action="desk tool return_delivered_order_items")[0]
    assert audit.principal_name == "Sam Whitaker" and audit.detail["reason"] == "arrived broken"
    waiting = next(i for i in shop.client.get("/v1/inbox").json()["data"] if i["id"] == conversation)
    assert waiting["waiting_since"] is None  # the operator's run answered the customer
