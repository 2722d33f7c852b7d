"""An independent plain-dict model of the tau2 retail tools, written from the dataset's TOOLS.md §5
(and the reference semantics it describes), used only by tests to cross-check ``replay`` in compat
mode on synthetic tasks. It shares no code with ``apps.customer_service``.

State is db.json's dict; outputs are rendered as the reference environment renders them (§4):
model-shape JSON (optional order keys printed as null), raw strings, ``Error: <message>``.
Like the reference, a write that fails part-way keeps what it changed before the error.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

OPTIONAL = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)
ADDRESS_KEYS = ("address1", "address2", "city", "country", "state", "zip")


class Fail(Exception):
    pass


def _addr(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in ADDRESS_KEYS}


def _order_model(o: dict[str, Any]) -> dict[str, Any]:
    out = {
        "order_id": o["order_id"],
        "user_id": o["user_id"],
        "address": _addr(o["address"]),
        "items": [
            {k: it[k] for k in ("name", "product_id", "item_id", "price", "options")}
            for it in o["items"]
        ],
        "status": o["status"],
        "fulfillments": [
            {k: f[k] for k in ("tracking_id", "item_ids")} for f in o["fulfillments"]
        ],
        "payment_history": [
            {k: p[k] for k in ("transaction_type", "amount", "payment_method_id")}
            for p in o["payment_history"]
        ],
    }
    for key in OPTIONAL:
        out[key] = o.get(key)
    return out


def _pm_model(m: dict[str, Any]) -> dict[str, Any]:
    if m["source"] == "credit_card":
        return {k: m[k] for k in ("source", "id", "brand", "last_four")}
    if m["source"] == "gift_card":
        return {k: m[k] for k in ("source", "id", "balance")}
    return {k: m[k] for k in ("source", "id")}


def _user_model(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": u["user_id"],
        "name": {
            "first_name": u["name"]["first_name"],
            "last_name": u["name"]["last_name"],
        },
        "address": _addr(u["address"]),
        "email": u["email"],
        "payment_methods": {k: _pm_model(m) for k, m in u["payment_methods"].items()},
        "orders": list(u["orders"]),
    }


def _variant_model(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("item_id", "options", "available", "price")}


class Sim:
    def __init__(self, db: dict[str, Any]) -> None:
        self.db = copy.deepcopy(db)

    # lookups
    def order(self, order_id: str) -> dict[str, Any]:
        if order_id not in self.db["orders"]:
            raise Fail("Order not found")
        return self.db["orders"][order_id]

    def user(self, user_id: str) -> dict[str, Any]:
        if user_id not in self.db["users"]:
            raise Fail("User not found")
        return self.db["users"][user_id]

    def product(self, product_id: str) -> dict[str, Any]:
        if product_id not in self.db["products"]:
            raise Fail("Product not found")
        return self.db["products"][product_id]

    def variant(self, product_id: str, item_id: str) -> dict[str, Any]:
        product = self.product(product_id)
        if item_id not in product["variants"]:
            raise Fail("Variant not found")
        return product["variants"][item_id]

    def method(self, user_id: str, method_id: str) -> dict[str, Any]:
        user = self.user(user_id)
        if method_id not in user["payment_methods"]:
            raise Fail("Payment method not found")
        return user["payment_methods"][method_id]

    @staticmethod
    def count_check(item_ids: list[str], order: dict[str, Any], message: str) -> None:
        held = [it["item_id"] for it in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > held.count(item_id):
                raise Fail(message.format(item_id))

    # tools
    def calculate(self, expression: str) -> str:
        if not all(c in "0123456789+-*/(). " for c in expression):
            raise Fail("Invalid characters in expression")
        return str(round(float(eval(expression, {"__builtins__": None}, {})), 2))

    def cancel_pending_order(self, order_id: str, reason: str) -> Any:
        order = self.order(order_id)
        if order["status"] != "pending":
            raise Fail("Non-pending order cannot be cancelled")
        if reason not in ("no longer needed", "ordered by mistake"):
            raise Fail("Invalid reason")
        refunds = []
        for payment in order["payment_history"]:
            refunds.append(
                {
                    "transaction_type": "refund",
                    "amount": payment["amount"],
                    "payment_method_id": payment["payment_method_id"],
                }
            )
            method = self.method(order["user_id"], payment["payment_method_id"])
            if method["source"] == "gift_card":
                method["balance"] = round(method["balance"] + payment["amount"], 2)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return _order_model(order)

    def exchange_delivered_order_items(
        self, order_id, item_ids, new_item_ids, payment_method_id
    ):  # type: ignore[no-untyped-def]
        order = self.order(order_id)
        if order["status"] != "delivered":
            raise Fail("Non-delivered order cannot be exchanged")
        self.count_check(item_ids, order, "Number of {} not found.")
        if len(item_ids) != len(new_item_ids):
            raise Fail("The number of items to be exchanged should match.")
        diff: Any = 0
        for old, new in zip(item_ids, new_item_ids):
            item = next(it for it in order["items"] if it["item_id"] == old)
            variant = self.variant(item["product_id"], new)
            if not variant["available"]:
                raise Fail(f"New item {new} not found or available")
            diff += variant["price"] - item["price"]
        diff = round(diff, 2)
        method = self.method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise Fail("Insufficient gift card balance to pay for the price difference")
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff
        return _order_model(order)

    def find_user_id_by_name_zip(
        self, first_name: str, last_name: str, zip: str
    ) -> str:
        for user_id, u in self.db["users"].items():
            if (
                u["name"]["first_name"].lower() == first_name.lower()
                and u["name"]["last_name"].lower() == last_name.lower()
                and u["address"]["zip"] == zip
            ):
                return user_id
        raise Fail("User not found")

    def find_user_id_by_email(self, email: str) -> str:
        for user_id, u in self.db["users"].items():
            if u["email"].lower() == email.lower():
                return user_id
        raise Fail("User not found")

    def get_order_details(self, order_id: str) -> Any:
        return _order_model(self.order(order_id))

    def get_product_details(self, product_id: str) -> Any:
        p = self.product(product_id)
        return {
            "name": p["name"],
            "product_id": p["product_id"],
            "variants": {k: _variant_model(v) for k, v in p["variants"].items()},
        }

    def get_item_details(self, item_id: str) -> Any:
        for p in self.db["products"].values():
            if item_id in p["variants"]:
                return _variant_model(p["variants"][item_id])
        raise Fail("Item not found")

    def get_user_details(self, user_id: str) -> Any:
        return _user_model(self.user(user_id))

    def list_all_product_types(self) -> str:
        return json.dumps(
            {p["name"]: p["product_id"] for p in self.db["products"].values()},
            sort_keys=True,
        )

    def modify_pending_order_address(
        self, order_id, address1, address2, city, state, country, zip
    ):  # type: ignore[no-untyped-def]
        order = self.order(order_id)
        if "pending" not in order["status"]:
            raise Fail("Non-pending order cannot be modified")
        order["address"] = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "country": country,
            "state": state,
            "zip": zip,
        }
        return _order_model(order)

    def modify_pending_order_items(
        self, order_id, item_ids, new_item_ids, payment_method_id
    ):  # type: ignore[no-untyped-def]
        order = self.order(order_id)
        if order["status"] != "pending":
            raise Fail("Non-pending order cannot be modified")
        self.count_check(item_ids, order, "{} not found")
        if len(item_ids) != len(new_item_ids):
            raise Fail("The number of items to be exchanged should match")
        diff: Any = 0
        variant: Any = None
        for old, new in zip(item_ids, new_item_ids):
            if old == new:
                raise Fail("The new item id should be different from the old item id")
            item = next(it for it in order["items"] if it["item_id"] == old)
            variant = self.variant(item["product_id"], new)
            if not variant["available"]:
                raise Fail(f"New item {new} not found or available")
            diff += variant["price"] - item["price"]
        method = self.method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise Fail("Insufficient gift card balance to pay for the new item")
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff > 0 else "refund",
                "amount": float(
                    abs(diff)
                ),  # pydantic validates the new OrderPayment: a float
                "payment_method_id": payment_method_id,
            }
        )
        if method["source"] == "gift_card":
            method["balance"] = round(method["balance"] - diff, 2)
        for old, new in zip(item_ids, new_item_ids):
            item = next(it for it in order["items"] if it["item_id"] == old)
            item["item_id"] = new
            item["price"] = variant[
                "price"
            ]  # the last pair's variant (the reference's leftover loop variable)
            item["options"] = variant["options"]
        order["status"] = "pending (item modified)"
        return _order_model(order)

    def modify_pending_order_payment(self, order_id, payment_method_id):  # type: ignore[no-untyped-def]
        order = self.order(order_id)
        if "pending" not in order["status"]:
            raise Fail("Non-pending order cannot be modified")
        method = self.method(order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise Fail("There should be exactly one payment for a pending order")
        if history[0]["payment_method_id"] == payment_method_id:
            raise Fail(
                "The new payment method should be different from the current one"
            )
        amount = history[0]["amount"]
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise Fail("Insufficient gift card balance to pay for the order")
        old_id = history[0]["payment_method_id"]
        history.extend(
            [
                {
                    "transaction_type": "payment",
                    "amount": amount,
                    "payment_method_id": payment_method_id,
                },
                {
                    "transaction_type": "refund",
                    "amount": amount,
                    "payment_method_id": old_id,
                },
            ]
        )
        if method["source"] == "gift_card":
            method["balance"] = round(method["balance"] - amount, 2)
        old = self.method(order["user_id"], old_id)
        if old["source"] == "gift_card":
            old["balance"] = round(old["balance"] + amount, 2)
        return _order_model(order)

    def modify_user_address(
        self, user_id, address1, address2, city, state, country, zip
    ):  # type: ignore[no-untyped-def]
        user = self.user(user_id)
        user["address"] = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "country": country,
            "state": state,
            "zip": zip,
        }
        return _user_model(user)

    def return_delivered_order_items(self, order_id, item_ids, payment_method_id):  # type: ignore[no-untyped-def]
        order = self.order(order_id)
        if order["status"] != "delivered":
            raise Fail("Non-delivered order cannot be returned")
        method = self.method(order["user_id"], payment_method_id)
        if (
            method["source"] != "gift_card"
            and payment_method_id != order["payment_history"][0]["payment_method_id"]
        ):
            raise Fail("Payment method should be the original payment method")
        self.count_check(item_ids, order, "Some item not found")
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return _order_model(order)

    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"

    # running actions
    TOOL_NAMES = (
        "calculate",
        "cancel_pending_order",
        "exchange_delivered_order_items",
        "find_user_id_by_name_zip",
        "find_user_id_by_email",
        "get_order_details",
        "get_product_details",
        "get_item_details",
        "get_user_details",
        "list_all_product_types",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
        "modify_user_address",
        "return_delivered_order_items",
        "transfer_to_human_agents",
    )

    def run(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        if name not in self.TOOL_NAMES:
            return f"Error: Tool '{name}' not found.", True
        try:
            value = getattr(self, name)(**arguments)
        except TypeError as exc:
            # Python's own message names the bound method ``Sim.x``; the reference's is ``RetailTools.x``.
            return "Error: " + str(exc).replace("Sim.", "RetailTools."), True
        except Exception as exc:  # noqa: BLE001 - the reference reports any exception as "Error: <message>"
            return f"Error: {exc}", True
        return (
            value if isinstance(value, str) else json.dumps(value, default=str)
        ), False

    def hashes(self) -> tuple[str, str]:
        sha = hashlib.sha256(
            json.dumps(self.db, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        model = dict(self.db)
        model["orders"] = {
            k: {**o, **{key: o.get(key) for key in OPTIONAL}}
            for k, o in self.db["orders"].items()
        }
        tau2 = hashlib.sha256(
            json.dumps(model, sort_keys=True, default=str).encode()
        ).hexdigest()
        return sha, tau2

    def changed(self, base: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            section: {
                k: v
                for k, v in self.db[section].items()
                if json.dumps(v, sort_keys=True)
                != json.dumps(base[section][k], sort_keys=True)
            }
            for section in ("orders", "users", "products")
        }


def simulate(db: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """One task's expected result, in expected_train.json's shape (``changed`` compared key-order-free)."""
    sim = Sim(db)
    actions = []
    for action in (task.get("evaluation_criteria") or {}).get("actions") or []:
        arguments = action.get("arguments") or {}
        output, error = sim.run(action["name"], arguments)
        actions.append(
            {
                "action_id": action.get("action_id"),
                "name": action["name"],
                "arguments": arguments,
                "output": output,
                "error": error,
            }
        )
    sha, tau2 = sim.hashes()
    return {
        "actions": actions,
        "changed": sim.changed(db),
        "db_sha256": sha,
        "tau2_db_hash": tau2,
    }
