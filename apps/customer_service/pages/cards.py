"""customer_service's views of its tool outputs in the console: an order card and a user card.

A view takes a tool's output (JSON-decoded by the console) and draws it with Streamlit, returning
True; it returns False for anything that is not its record (an ``Error: ...`` text, another shape),
and the console then shows the output as JSON. The views tolerate missing fields: they draw what the
record has. Streamlit and the standard library only; the text summaries the offline model writes for
customers are ``apps/customer_service/render.py``, a different audience.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

__all__ = ["order_card", "user_card"]


def money(amount: Any) -> str:
    return f"${amount:,.2f}" if isinstance(amount, (int, float)) else "—"


def _options(options: Any) -> str:
    return ", ".join(f"{k}: {v}" for k, v in options.items()) if isinstance(options, Mapping) else ""


def _address(address: Any) -> str:
    if not isinstance(address, Mapping):
        return ""
    parts = [address.get(k) for k in ("address1", "address2", "city", "state", "zip", "country")]
    return ", ".join(str(p) for p in parts if p)


def _payment(method: Any) -> str:
    if not isinstance(method, Mapping):
        return str(method)
    source, method_id = method.get("source", "payment"), method.get("id", "?")
    if source == "gift_card":
        return f"gift card `{method_id}` · balance {money(method.get('balance'))}"
    if source == "credit_card":
        return f"{method.get('brand', 'credit')} card ending {method.get('last_four', '????')} · `{method_id}`"
    return f"{str(source).replace('_', ' ')} · `{method_id}`"


def order_card(output: Any) -> bool:
    """An order: status, customer, items with prices, payments, shipments, pending return/exchange."""
    if not isinstance(output, Mapping) or "order_id" not in output:
        return False
    items = [i for i in output.get("items") or [] if isinstance(i, Mapping)]
    with st.container(border=True):
        st.markdown(f"**Order {output['order_id']}** · `{output.get('status', 'unknown')}`")
        facts = [f"customer `{output['user_id']}`" if output.get("user_id") else "",
                 f"ships to {_address(output.get('address'))}" if _address(output.get("address")) else ""]
        if any(facts):
            st.caption(" · ".join(f for f in facts if f))
        if items:
            st.dataframe([{"item": i.get("name"), "options": _options(i.get("options")), "price": money(i.get("price")),
                           "item id": i.get("item_id")} for i in items], hide_index=True)
            prices = [i["price"] for i in items if isinstance(i.get("price"), (int, float))]
            st.markdown(f"Items total: **{money(sum(prices))}**")
        for payment in output.get("payment_history") or []:
            if isinstance(payment, Mapping):
                verb = "Refunded" if payment.get("transaction_type") == "refund" else "Paid"
                st.markdown(f"{verb} **{money(payment.get('amount'))}** with `{payment.get('payment_method_id')}`")
        for shipment in output.get("fulfillments") or []:
            if isinstance(shipment, Mapping):
                st.markdown(f"Shipment: tracking {', '.join(map(str, shipment.get('tracking_id') or []))} "
                            f"({len(shipment.get('item_ids') or [])} items)")
        if output.get("cancel_reason"):
            st.markdown(f"Cancelled: {output['cancel_reason']}")
        if output.get("return_items"):
            st.markdown(f"Return requested for {len(output['return_items'])} item(s), "
                        f"refund to `{output.get('return_payment_method_id')}`")
        if output.get("exchange_items"):
            st.markdown(f"Exchange requested for {len(output['exchange_items'])} item(s), "
                        f"price difference {money(output.get('exchange_price_difference'))}")
    return True


def user_card(output: Any) -> bool:
    """A customer account: name, email, address, payment methods and orders."""
    if not isinstance(output, Mapping) or "user_id" not in output or "order_id" in output:
        return False
    name: Mapping[str, Any] = output["name"] if isinstance(output.get("name"), Mapping) else {}
    full_name = f"{name.get('first_name', '')} {name.get('last_name', '')}".strip()
    with st.container(border=True):
        st.markdown(f"**User {output['user_id']}**" + (f" · {full_name}" if full_name else ""))
        facts = [output.get("email") or "", _address(output.get("address"))]
        if any(facts):
            st.caption(" · ".join(f for f in facts if f))
        methods = output.get("payment_methods")
        for method in (methods.values() if isinstance(methods, Mapping) else methods or []):
            st.markdown(f"- {_payment(method)}")
        orders = [str(o) for o in output.get("orders") or []]
        st.markdown("Orders: " + (", ".join(f"`{o}`" for o in orders) if orders else "none"))
    return True
