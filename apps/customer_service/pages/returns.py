"""Returns & exchanges: the guided form that finishes a return or an exchange of a delivered order.

The offline bot cannot run a return or an exchange in the chat; it points here (or offers a person). Step by
step: the conversation (its authenticated customer), the delivered order, the items, the reason, then the
refund's payment method (a return) or each item's new variant and the method that settles the difference (an
exchange), and a confirmation. The API runs the store's tool under the conversation's identity and ownership
checks, audits it under the console's principal and tells the customer in the conversation. "Offer to a
person" hands the conversation off instead, with the request and its reason. Streamlit, ``ui.client`` and
this package only.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apps.customer_service.pages.actions import APP, ask, confirmation, customer_of, payment_methods
from apps.customer_service.pages.cards import money, order_card
from ui.client import ApiError, connect

def variant_label(variant: dict[str, Any]) -> str:
    options = ", ".join(f"{k}: {v}" for k, v in (variant.get("options") or {}).items())
    return f"{variant.get('item_id')} · {options} · {money(variant.get('price'))}"


REASONS = ("arrived damaged or broken", "wrong size or colour", "not as described", "no longer needed", "other")
KEY = "cs_returns_run"

client = connect(st.session_state)
st.title("↩️ Returns & exchanges")
try:
    page = client.search_conversations(app=APP, limit=100)
except ApiError as exc:
    st.error(f"Could not load the customer_service conversations: {exc}")
    st.stop()
conversations = [c for c in page.get("data") or [] if c.get("customer")]
if not conversations:
    st.info("No conversation has an identified customer yet: the customer confirms who they are in the chat "
            "(email, or name and zip code) first.")
    st.stop()

by_id = {c["id"]: c for c in conversations}
cid = st.selectbox("1. Conversation", list(by_id), key="cs_returns_conversation",
                   format_func=lambda i: f"{by_id[i]['customer']} · {by_id[i].get('title') or i[:8]} · {by_id[i].get('state')}")
try:
    view = customer_of(client, cid)
except ApiError as exc:
    st.error(f"Could not load the customer: {exc}")
    st.stop()
user = view.get("user") or {}
delivered = [o for o in view.get("orders") or [] if o.get("status") == "delivered"]
if not delivered:
    st.info(f"{by_id[cid]['customer']} has no delivered order: only delivered orders can be returned or exchanged.")
    st.stop()

orders = {o["order_id"]: o for o in delivered}
order_id = st.selectbox("2. Delivered order", list(orders), key="cs_returns_order")
order = orders[order_id]
with st.expander("The order", expanded=False):
    order_card(order)
items: list[dict[str, Any]] = [i for i in order.get("items") or [] if isinstance(i, dict)]
labels = {i["item_id"]: f"{i.get('name', 'item')} ({i['item_id']}) · {money(i.get('price'))}" for i in items}
chosen = st.multiselect("3. Items", list(labels), format_func=labels.__getitem__, key="cs_returns_items")
picked = st.selectbox("4. Reason", REASONS, key="cs_returns_reason")
reason = st.text_input("Tell us more", key="cs_returns_reason_text") if picked == "other" else picked
kind = st.radio("5. What should happen?", ("Refund (return)", "Another item (exchange)"), key="cs_returns_kind", horizontal=True)
exchange = kind.startswith("Another")

arguments: dict[str, Any] = {"order_id": order_id, "item_ids": chosen}
if exchange:
    options = order.get("exchange_options") or {}
    new_items: list[str | None] = []
    for n, item_id in enumerate(chosen):
        variants: dict[str, dict[str, Any]] = {v["item_id"]: v for v in options.get(item_id, [])}
        shown = {item: variant_label(v) for item, v in variants.items()}
        new_items.append(st.selectbox(f"New item for {labels[item_id]}", list(shown), key=f"cs_returns_new_{n}",
                                      format_func=shown.__getitem__))
    arguments["new_item_ids"] = new_items
    methods = payment_methods(user)
    arguments["payment_method_id"] = st.selectbox("6. Pay or refund the price difference with", methods, key="cs_returns_pm")
else:
    original = [p["payment_method_id"] for p in order.get("payment_history") or [] if p.get("transaction_type") == "payment"]
    methods = list(dict.fromkeys(original[:1] + [m for m in payment_methods(user) if m.startswith("gift_card")]))
    arguments["payment_method_id"] = st.selectbox("6. Refund to (the original payment method or a gift card)", methods,
                                                  key="cs_returns_pm")
ready = bool(chosen and reason and arguments.get("payment_method_id") and (not exchange or all(arguments["new_item_ids"])))
tool = "exchange_delivered_order_items" if exchange else "return_delivered_order_items"
review, person = st.columns(2)
if review.button("7. Review and confirm", disabled=not ready, width="stretch", key="cs_returns_review"):
    ask(client, KEY, cid, tool, arguments, reason=reason)
if person.button("🙋 Offer to a person instead", width="stretch", key="cs_returns_person"):
    wanted = "an exchange" if exchange else "a return"
    summary = f"The customer wants {wanted} of items {', '.join(chosen) or '(not chosen)'} of order {order_id}; reason: {reason or '(none given)'}."
    try:
        client.hand_off(cid, summary)
        st.success("Handed off: a person from the team will finish it and reply in the conversation.")
    except ApiError as exc:
        st.error(f"Could not hand the conversation off: {exc}")
done = confirmation(client, KEY)
if done and done.get("output"):
    order_card(done["output"])
