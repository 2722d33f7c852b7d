"""The panel customer_service draws beside its conversations in the operator inbox (``DESK_PANEL``).

It shows who the customer is (the conversation's authenticated identity), their account and orders, and
lets the operator run the store's tools for them: look up an order, cancel a pending order, change an
order's or the account's address, return or exchange delivered items. Writes go through the confirmation
step of ``actions``. Before the customer is identified, the operator can look them up by email, which
authenticates the conversation as the bot's lookup would. Streamlit, ``ui.client`` and this package only.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apps.customer_service.pages.actions import ask, confirmation, customer_of, payment_methods
from apps.customer_service.pages.cards import order_card, user_card
from ui.client import ApiClient, ApiError

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
ACTIONS = ("Look up an order", "Cancel a pending order", "Change an order's address", "Change the account's address",
           "Return items", "Exchange items")


def _address_fields(prefix: str) -> dict[str, str]:
    one, two = st.columns(2)
    address = {"address1": one.text_input("Street", key=f"{prefix}_a1"), "address2": two.text_input("Apartment", key=f"{prefix}_a2"),
               "city": one.text_input("City", key=f"{prefix}_city"), "state": two.text_input("State", key=f"{prefix}_state"),
               "zip": one.text_input("Zip code", key=f"{prefix}_zip"),
               "country": two.text_input("Country", value="USA", key=f"{prefix}_country")}
    return address


def _order_ids(orders: list[dict[str, Any]], statuses: tuple[str, ...]) -> list[str]:
    return [o["order_id"] for o in orders if not statuses or str(o.get("status")) in statuses]


def _action_form(client: ApiClient, cid: str, view: dict[str, Any]) -> None:
    user, orders = view.get("user") or {}, view.get("orders") or []
    by_id = {o["order_id"]: o for o in orders}
    action = st.selectbox("Action", ACTIONS, key=f"desk_action_{cid}") or ACTIONS[0]
    key = f"desk_run_{cid}"
    if action == "Look up an order":
        typed = st.text_input("Order id", placeholder="#W1234567", key=f"desk_lookup_{cid}")
        if st.button("🔎 Look up", key=f"desk_lookup_go_{cid}") and typed:
            ask(client, key, cid, "get_order_details", {"order_id": typed.strip()})
    elif action == "Cancel a pending order":
        pending = st.selectbox("Pending order", _order_ids(orders, ("pending",)), key=f"desk_cancel_{cid}")
        reason = st.selectbox("Reason", CANCEL_REASONS, key=f"desk_cancel_reason_{cid}")
        if st.button("Review the cancellation", key=f"desk_cancel_go_{cid}", disabled=not pending):
            ask(client, key, cid, "cancel_pending_order", {"order_id": pending, "reason": reason})
    elif action in ("Change an order's address", "Change the account's address"):
        for_order = action == "Change an order's address"
        order_id = st.selectbox("Pending order", _order_ids(orders, ("pending", "pending (item modified)")),
                                key=f"desk_addr_order_{cid}") if for_order else None
        address = _address_fields(f"desk_addr_{cid}")
        target = {"order_id": order_id} if for_order else {"user_id": user.get("user_id")}
        tool = "modify_pending_order_address" if for_order else "modify_user_address"
        if st.button("Review the address change", key=f"desk_addr_go_{cid}", disabled=for_order and not order_id):
            ask(client, key, cid, tool, {**target, **address})
    else:
        exchange = action == "Exchange items"
        order_id = st.selectbox("Delivered order", _order_ids(orders, ("delivered",)), key=f"desk_ret_order_{cid}")
        order = by_id.get(order_id or "", {})
        items = [i["item_id"] for i in order.get("items") or []]
        chosen = st.multiselect("Items", items, key=f"desk_ret_items_{cid}")
        reason = st.text_input("Reason", key=f"desk_ret_reason_{cid}")
        options = order.get("exchange_options") or {}
        new_items = [st.selectbox(f"New item for {item}", [v["item_id"] for v in options.get(item, [])],
                                  key=f"desk_new_{cid}_{n}") for n, item in enumerate(chosen)] if exchange else []
        method = st.selectbox("Payment method (refund / price difference)", payment_methods(user), key=f"desk_ret_pm_{cid}")
        arguments: dict[str, Any] = {"order_id": order_id, "item_ids": chosen, "payment_method_id": method}
        if exchange:
            arguments["new_item_ids"] = new_items
        tool = "exchange_delivered_order_items" if exchange else "return_delivered_order_items"
        if st.button(f"Review the {'exchange' if exchange else 'return'}", key=f"desk_ret_go_{cid}",
                     disabled=not (order_id and chosen and method and all(new_items))):
            ask(client, key, cid, tool, arguments, reason=reason)
    result = confirmation(client, key)
    if result and result.get("tool") == "get_order_details":
        order_card(result.get("output"))


def desk_panel(conversation: dict[str, Any], client: ApiClient) -> None:
    """The customer beside ``conversation`` and the store's actions for them."""
    cid = str(conversation["id"])
    try:
        view = customer_of(client, cid)
    except ApiError as exc:
        st.error(f"Could not load the customer: {exc}")
        return
    identity = view.get("identity")
    if not identity:
        st.info("The customer has not been identified in this conversation yet.")
        email = st.text_input("Find the customer by email", key=f"desk_email_{cid}")
        if st.button("🔎 Find", key=f"desk_email_go_{cid}") and email:
            ask(client, f"desk_run_{cid}", cid, "find_user_id_by_email", {"email": email.strip()})
            st.rerun()
        confirmation(client, f"desk_run_{cid}")
        return
    st.markdown(f"**Customer** `{identity['subject']}` · identified by {identity.get('method')}")
    if view.get("user"):
        with st.expander("Account", expanded=False):
            user_card(view["user"])
    orders = view.get("orders") or []
    st.caption(f"{len(orders)} orders")
    for order in orders:
        with st.expander(f"{order['order_id']} · {order.get('status')}"):
            order_card(order)
    st.divider()
    st.markdown("**Run a store action**")
    _action_form(client, cid, view)
