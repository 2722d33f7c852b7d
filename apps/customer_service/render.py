"""Customer-readable summaries of the retail tools' outputs, for the offline (extractive) model.

The tools return the tau2 JSON records to the model; a person reading an offline answer gets a short
summary instead: an order's status, items with prices and totals, an account's payment methods and
orders, a product's options. The renderers take the tool's output text and never raise on odd input
(they fall back to the text itself). Shipping addresses are left out: offline mode runs lookups
without the policy's authentication step, so a summary shows no more than an order id holder needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

ERROR_PREFIX = "Error: "
NOT_FOUND = {
    "Order not found": "I could not find an order with that id. Order ids look like #W1234567.",
    "User not found": "I could not find an account with those details.",
    "Product not found": "I could not find a product with that id.",
    "Item not found": "I could not find an item with that id.",
}


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in options.items())


def as_markdown(lines: list[str]) -> str:
    """First line as a heading, the rest as a list (a "- " line under a "...:" line is nested),
    so that chat clients that render Markdown keep one fact per line."""
    out = [f"**{lines[0]}**", ""]
    nested = False
    for line in lines[1:]:
        if line.startswith("- "):
            out.append(("  " if nested else "") + line)
        else:
            nested = line.endswith(":")
            out.append(f"- {line}")
    return "\n".join(out)


def payment_method_text(method_id: str) -> str:
    """``credit_card_1000001`` -> ``credit card (credit_card_1000001)``: the kind, then the id to refer to."""
    kind = method_id.rsplit("_", 1)[0].replace("_", " ") if "_" in method_id else method_id
    return f"{kind} ({method_id})"


def render_order(order: dict[str, Any]) -> str:
    items = order.get("items") or []
    lines = [f"Order {order['order_id']}: {order['status']}", "Items:"]
    lines += [f"- {item['name']} ({options_text(item.get('options') or {})}): {money(item['price'])}" for item in items]
    lines.append(f"Items total: {money(sum(item['price'] for item in items))}")
    for payment in order.get("payment_history") or []:
        verb = "Paid" if payment["transaction_type"] == "payment" else "Refunded"
        lines.append(f"{verb} {money(payment['amount'])} with {payment_method_text(payment['payment_method_id'])}")
    for fulfillment in order.get("fulfillments") or []:
        count = len(fulfillment.get("item_ids") or [])
        lines.append(f"Shipment: tracking {', '.join(fulfillment.get('tracking_id') or [])} ({count} item{'s' * (count != 1)})")
    if order.get("cancel_reason"):
        lines.append(f"Cancelled because: {order['cancel_reason']}")
    if order.get("return_items"):
        lines.append(f"Return requested for {len(order['return_items'])} item(s), refund to "
                     f"{payment_method_text(order.get('return_payment_method_id') or '')}")
    if order.get("exchange_items"):
        diff = order.get("exchange_price_difference") or 0.0
        settle = f"you pay {money(diff)}" if diff > 0 else f"you get back {money(-diff)}"
        lines.append(f"Exchange requested for {len(order['exchange_items'])} item(s); {settle}")
    address = order.get("address") or {}
    if address.get("city"):
        lines.append(f"Ships to: {address['city']}, {address.get('state', '')}".rstrip(", "))
    return as_markdown(lines)


def render_user(user: dict[str, Any]) -> str:
    name = user.get("name") or {}
    lines = [f"Account {user['user_id']}: {name.get('first_name', '')} {name.get('last_name', '')}".rstrip()]
    methods = []
    for method in (user.get("payment_methods") or {}).values():
        if method["source"] == "gift_card":
            methods.append(f"gift card {method['id']} (balance {money(method.get('balance') or 0.0)})")
        elif method["source"] == "credit_card":
            methods.append(f"{method.get('brand', 'credit')} card ending {method.get('last_four', '????')} ({method['id']})")
        else:
            methods.append(f"{method['source']} ({method['id']})")
    if methods:
        lines.append("Payment methods: " + "; ".join(methods))
    orders = user.get("orders") or []
    lines.append("Orders: " + (", ".join(orders) if orders else "none"))
    return as_markdown(lines)


def render_product(product: dict[str, Any]) -> str:
    variants = list((product.get("variants") or {}).values())
    available = [v for v in variants if v.get("available")]
    lines = [f"{product['name']} (product {product['product_id']}): {len(available)} of {len(variants)} options available"]
    for variant in variants:
        state = money(variant["price"]) if variant.get("available") else "not available"
        lines.append(f"- {options_text(variant.get('options') or {})}: {state} (item {variant['item_id']})")
    return as_markdown(lines)


def render_item(item: dict[str, Any]) -> str:
    state = "available" if item.get("available") else "not available"
    return f"Item {item['item_id']} ({options_text(item.get('options') or {})}): {money(item['price'])}, {state}"


def render_user_id(user_id: str) -> str:
    return f"I found your account: {user_id}."


def render_product_types(types: dict[str, str]) -> str:
    return f"We sell {len(types)} kinds of products: " + ", ".join(sorted(types)) + "."


def _guarded(render: Callable[[Any], str], *, parse_json: bool = True) -> Callable[[str], str]:
    def renderer(output: str) -> str:
        if output.startswith(ERROR_PREFIX):
            message = output[len(ERROR_PREFIX):]
            return NOT_FOUND.get(message, f"Sorry, that lookup failed: {message}")
        try:
            return render(json.loads(output) if parse_json else output)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            return output

    return renderer


TOOL_RENDERERS: dict[str, Callable[[str], str]] = {
    "get_order_details": _guarded(render_order),
    "get_user_details": _guarded(render_user),
    "get_product_details": _guarded(render_product),
    "get_item_details": _guarded(render_item),
    "find_user_id_by_email": _guarded(render_user_id, parse_json=False),
    "find_user_id_by_name_zip": _guarded(render_user_id, parse_json=False),
    "list_all_product_types": _guarded(render_product_types),
}
