"""The operator desk (the inbox with customer_service's panel) and the returns and exchanges form, in AppTest
against the fake API: waiting time, customer and operator names in the list, the customer's orders beside the
conversation, a write only after "Confirm", search over resolved conversations, the guided return."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
RETURNS = ROOT / "apps" / "customer_service" / "pages" / "returns.py"
DELIVERED = {"order_id": "#W1000002", "user_id": "ada_lane_1001", "status": "delivered",
             "items": [{"name": "Headphones", "product_id": "1000000001", "item_id": "2000000021", "price": 89.5,
                        "options": {"color": "black"}}],
             "payment_history": [{"transaction_type": "payment", "amount": 89.5, "payment_method_id": "credit_card_1000001"}],
             "exchange_options": {"2000000021": [{"item_id": "2000000022", "options": {"color": "white"}, "price": 89.5,
                                                  "available": True}]}}
PENDING = {"order_id": "#W1000001", "user_id": "ada_lane_1001", "status": "pending", "items": [],
           "payment_history": [{"transaction_type": "payment", "amount": 10.0, "payment_method_id": "gift_card_1000002"}]}
ADA = {"identity": {"subject": "ada_lane_1001", "method": "email", "verified_at": "2026-12-01T03:00:00+00:00"},
       "user": {"user_id": "ada_lane_1001", "name": {"first_name": "Ada", "last_name": "Lane"}, "email": "ada@example.com",
                "payment_methods": {"credit_card_1000001": {"source": "credit_card", "id": "credit_card_1000001"},
                                    "gift_card_1000002": {"source": "gift_card", "id": "gift_card_1000002", "balance": 60.0}}},
       "orders": [DELIVERED, PENDING]}


def handed_off_ada(fake_api: Any) -> dict[str, Any]:
    conv = fake_api.add_conversation("customer_service", "I want to return my headphones", state="claimed")
    conv.update(summary="The customer wants a return for order #W1000002", customer="ada_lane_1001",
                waiting_seconds=185, waiting_since="2026-12-01T03:00:00+00:00", operator="Alice Moreau")
    fake_api.add_message(conv["id"], "user", "I want to return the headphones from #W1000002", author="customer")
    fake_api.customers[conv["id"]] = {"conversation_id": conv["id"], **ADA}
    return conv


def test_desk_lists_waiting_time_customer_and_operator_and_refreshes_itself(open_page, fake_api) -> None:  # type: ignore[no-untyped-def]
    handed_off_ada(fake_api)
    at = open_page("inbox").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["waiting"]) == ["3 min"] and list(table["customer"]) == ["ada_lane_1001"]
    assert list(table["operator"]) == ["Alice Moreau"]
    assert at.number_input(key="inbox_refresh_s").value == 10  # the fragments' run_every
    requests_before = len([r for r in fake_api.requests if r[1] == "/v1/inbox"])
    at.number_input(key="inbox_refresh_s").set_value(5).run()
    assert not at.exception and len([r for r in fake_api.requests if r[1] == "/v1/inbox"]) > requests_before


def test_desk_panel_shows_the_customer_and_orders_and_runs_a_return_only_after_confirm(open_page, fake_api) -> None:  # type: ignore[no-untyped-def]
    conv = handed_off_ada(fake_api)
    at = open_page("inbox").run()
    assert not at.exception and not at.error
    assert any("ada_lane_1001" in m.value for m in at.markdown)
    assert {e.label for e in at.expander} >= {"#W1000002 · delivered", "#W1000001 · pending"}
    at.selectbox(key=f"desk_action_{conv['id']}").set_value("Return items").run()
    at.multiselect(key=f"desk_ret_items_{conv['id']}").set_value(["2000000021"]).run()
    at.text_input(key=f"desk_ret_reason_{conv['id']}").set_value("arrived broken").run()
    next(b for b in at.button if b.label == "Review the return").click().run()
    assert not at.exception and fake_api.tool_runs == []  # described, not run
    assert any("Please confirm" in w.value for w in at.warning)
    next(b for b in at.button if "Confirm" in b.label).click().run()
    assert not at.exception and not at.error
    (run,) = fake_api.tool_runs
    assert run["tool"] == "return_delivered_order_items" and run["confirm"] is True and run["reason"] == "arrived broken"
    assert run["arguments"] == {"order_id": "#W1000002", "item_ids": ["2000000021"], "payment_method_id": "credit_card_1000001"}
    assert at.success and "Done" in at.success[0].value


def test_desk_panel_offers_a_lookup_before_the_customer_is_identified(open_page, fake_api) -> None:  # type: ignore[no-untyped-def]
    conv = fake_api.add_conversation("customer_service", "help", state="handed_off")
    at = open_page("inbox").run()
    assert any("not been identified" in i.value for i in at.info)
    at.text_input(key=f"desk_email_{conv['id']}").set_value("ada@example.com").run()
    next(b for b in at.button if "Find" in b.label).click().run()
    assert not at.exception
    assert fake_api.tool_runs[0]["tool"] == "find_user_id_by_email"


def test_search_tab_finds_resolved_conversations(open_page, fake_api) -> None:  # type: ignore[no-untyped-def]
    done = fake_api.add_conversation("customer_service", "Parcel never arrived", state="resolved")
    done["customer"] = "ben_okafor_1002"
    fake_api.add_conversation("customer_service", "Password reset", state="resolved")
    at = open_page("inbox").run()
    at.text_input(key="search_text").set_value("parcel")
    next(b for b in at.button if "Search" in b.label).click().run()
    assert not at.exception and not at.error
    tables = [d.value for d in at.dataframe]
    assert any(list(t["customer"]) == ["ben_okafor_1002"] for t in tables)
    assert any("1 conversations" in c.value for c in at.caption)


def test_returns_form_walks_order_items_reason_refund_then_confirms(fake_api) -> None:  # type: ignore[no-untyped-def]
    conv = handed_off_ada(fake_api)
    at = AppTest.from_file(str(RETURNS), default_timeout=20)
    at.session_state["api_url"], at.session_state["api_key"] = fake_api.url, "msk-test"
    from fake_moesaic_api import API_KEY

    at.session_state["api_key"] = API_KEY
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="cs_returns_conversation").value == conv["id"]
    assert at.selectbox(key="cs_returns_order").options == ["#W1000002"]  # delivered orders only
    at.multiselect(key="cs_returns_items").set_value(["2000000021"]).run()
    assert at.selectbox(key="cs_returns_pm").options == ["credit_card_1000001", "gift_card_1000002"]
    at.button(key="cs_returns_review").click().run()
    assert fake_api.tool_runs == [] and any("Please confirm" in w.value for w in at.warning)
    next(b for b in at.button if "Confirm" in b.label).click().run()
    (run,) = fake_api.tool_runs
    assert run["tool"] == "return_delivered_order_items" and run["reason"] == "arrived damaged or broken"
    assert not at.exception and not at.error


def test_returns_form_exchange_picks_the_new_item_or_offers_a_person(fake_api) -> None:  # type: ignore[no-untyped-def]
    from fake_moesaic_api import API_KEY

    conv = handed_off_ada(fake_api)
    conv["state"] = "active"
    at = AppTest.from_file(str(RETURNS), default_timeout=20)
    at.session_state["api_url"], at.session_state["api_key"] = fake_api.url, API_KEY
    at.run()
    at.multiselect(key="cs_returns_items").set_value(["2000000021"]).run()
    at.radio(key="cs_returns_kind").set_value("Another item (exchange)").run()
    assert at.selectbox(key="cs_returns_new_0").value == "2000000022"
    at.button(key="cs_returns_review").click().run()
    next(b for b in at.button if "Confirm" in b.label).click().run()
    assert fake_api.tool_runs[0]["arguments"]["new_item_ids"] == ["2000000022"]
    at.button(key="cs_returns_person").click().run()
    assert conv["state"] == "handed_off" and "exchange" in conv["summary"] and "#W1000002" in conv["summary"]
