"""The store back in db.json's schema, record serializers shared with the tools, and the DB hashes.

Two record shapes exist. ``db.json`` shape leaves an order's optional keys (cancel_reason,
exchange_*, return_*) out until a tool sets them; the *model* shape (what the tools return to the
model, like the tau2 reference's pydantic dump) always prints them, as ``null`` when unset.

Hashes (dataset TOOLS.md, section 2):
- ``db_sha256``: sha256 of ``json.dumps(db, sort_keys=True, separators=(',', ':'))`` in db.json shape;
- ``tau2_db_hash``: sha256 of ``json.dumps(db, sort_keys=True, default=str)`` in model shape.
Exports read one tenant's store. This module only reads the store; it never writes.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, select

from apps.customer_service.store import (
    Address,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    User,
    Variant,
)

ORDER_OPTIONAL_KEYS = (
    "cancel_reason",
    "exchange_items",
    "exchange_new_items",
    "exchange_payment_method_id",
    "exchange_price_difference",
    "return_items",
    "return_payment_method_id",
)

# Record builders take anything with the column names as attributes: ORM objects or Core rows.


def address_record(a: Any) -> dict[str, Any]:
    return {
        "address1": a.address1,
        "address2": a.address2,
        "city": a.city,
        "country": a.country,
        "state": a.state,
        "zip": a.zip,
    }


def payment_method_record(m: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"source": m.source, "id": m.id}
    if m.source == "credit_card":
        record["brand"] = m.brand
        record["last_four"] = m.last_four
    elif m.source == "gift_card":
        record["balance"] = m.balance
    return record


def user_record(u: Any, address: Any, methods: list[Any], order_ids: list[str]) -> dict[str, Any]:
    return {
        "user_id": u.user_id,
        "name": {"first_name": u.first_name, "last_name": u.last_name},
        "address": address_record(address),
        "email": u.email,
        "payment_methods": {m.id: payment_method_record(m) for m in methods},
        "orders": list(order_ids),
    }


def variant_record(v: Any) -> dict[str, Any]:
    return {"item_id": v.item_id, "options": dict(v.options), "available": bool(v.available), "price": v.price}


def product_record(p: Any, variants: list[Any]) -> dict[str, Any]:
    return {"name": p.name, "product_id": p.product_id, "variants": {v.item_id: variant_record(v) for v in variants}}


def order_record(
    o: Any, address: Any, items: list[Any], fulfillments: list[Any], payments: list[Any], *, model_shape: bool
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_id": o.order_id,
        "user_id": o.user_id,
        "address": address_record(address),
        "items": [
            {"name": i.name, "product_id": i.product_id, "item_id": i.item_id, "price": i.price, "options": dict(i.options)}
            for i in items
        ],
        "status": o.status,
        "fulfillments": [{"tracking_id": list(f.tracking_ids), "item_ids": list(f.item_ids)} for f in fulfillments],
        "payment_history": [
            {"transaction_type": p.transaction_type, "amount": p.amount, "payment_method_id": p.payment_method_id}
            for p in payments
        ],
    }
    for key in ORDER_OPTIONAL_KEYS:
        value = getattr(o, key)
        if key == "exchange_price_difference" and value == 0 and o.exchange_items == []:
            # An exchange of no items: the reference stores ``round(0, 2)``, the int 0, not 0.0. Any
            # exchange of at least one item sums float prices, so its difference is always a float.
            value = 0
        if value is not None or model_shape:
            record[key] = value
    return record


def order_to_model(order: Order) -> dict[str, Any]:
    """An ORM order as the tools return it (model shape)."""
    return order_record(order, order.address, order.items, order.fulfillments, order.payment_history, model_shape=True)


def user_to_model(user: User) -> dict[str, Any]:
    return user_record(user, user.address, user.payment_methods, [o.order_id for o in user.orders])


def product_to_model(product: Product) -> dict[str, Any]:
    return product_record(product, product.variants)


def export_store(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """``tenant_id``'s whole store in db.json's schema and order: ``{"products", "users", "orders"}``."""
    return {
        "products": export_products(conn, tenant_id),
        "users": export_users(conn, tenant_id),
        "orders": export_orders(conn, tenant_id),
    }


def export_products(conn: Connection, tenant_id: str) -> dict[str, Any]:
    variants: dict[str, list[Any]] = defaultdict(list)
    variant_query = select(Variant).where(Variant.tenant_id == tenant_id).order_by(Variant.product_id, Variant.position)
    for row in conn.execute(variant_query):
        variants[row.product_id].append(row)
    return {
        row.product_id: product_record(row, variants[row.product_id])
        for row in conn.execute(select(Product).where(Product.tenant_id == tenant_id).order_by(Product.position))
    }


def export_orders(conn: Connection, tenant_id: str, order_ids: Collection[str] | None = None) -> dict[str, Any]:
    """``tenant_id``'s orders in db.json shape and file order; all of them, or only ``order_ids``."""
    query = select(Order).where(Order.tenant_id == tenant_id).order_by(Order.position)
    if order_ids is not None:
        query = query.where(Order.order_id.in_(list(order_ids)))
    rows = list(conn.execute(query))
    wanted = [row.order_id for row in rows]
    addresses = _addresses(conn, tenant_id, [row.address_id for row in rows], everything=order_ids is None)
    children: dict[type, dict[str, list[Any]]] = {}
    for model in (OrderItem, Fulfillment, PaymentTransaction):
        child_query = select(model).where(model.tenant_id == tenant_id).order_by(model.order_id, model.position)
        if order_ids is not None:
            child_query = child_query.where(model.order_id.in_(wanted))
        grouped: dict[str, list[Any]] = defaultdict(list)
        for child in conn.execute(child_query):
            grouped[child.order_id].append(child)
        children[model] = grouped
    return {
        row.order_id: order_record(
            row,
            addresses[row.address_id],
            children[OrderItem][row.order_id],
            children[Fulfillment][row.order_id],
            children[PaymentTransaction][row.order_id],
            model_shape=False,
        )
        for row in rows
    }


def export_users(conn: Connection, tenant_id: str, user_ids: Collection[str] | None = None) -> dict[str, Any]:
    """``tenant_id``'s users in db.json shape and file order; all of them, or only ``user_ids``."""
    query = select(User).where(User.tenant_id == tenant_id).order_by(User.position)
    method_query = (
        select(PaymentMethod)
        .where(PaymentMethod.tenant_id == tenant_id)
        .order_by(PaymentMethod.user_id, PaymentMethod.position)
    )
    order_query = select(Order.user_id, Order.order_id).where(Order.tenant_id == tenant_id).order_by(Order.position)
    if user_ids is not None:
        query = query.where(User.user_id.in_(list(user_ids)))
        method_query = method_query.where(PaymentMethod.user_id.in_(list(user_ids)))
        order_query = order_query.where(Order.user_id.in_(list(user_ids)))
    rows = list(conn.execute(query))
    addresses = _addresses(conn, tenant_id, [row.address_id for row in rows], everything=user_ids is None)
    methods: dict[str, list[Any]] = defaultdict(list)
    for method in conn.execute(method_query):
        methods[method.user_id].append(method)
    orders_by_user: dict[str, list[str]] = defaultdict(list)
    for user_id, order_id in conn.execute(order_query):
        orders_by_user[user_id].append(order_id)
    return {
        row.user_id: user_record(row, addresses[row.address_id], methods[row.user_id], orders_by_user[row.user_id])
        for row in rows
    }


def _addresses(conn: Connection, tenant_id: str, ids: list[int], *, everything: bool) -> dict[int, Any]:
    query = select(Address).where(Address.tenant_id == tenant_id)
    if not everything:
        query = query.where(Address.id.in_(ids))
    return {row.id: row for row in conn.execute(query)}


def touched_ids(conn: Connection, tenant_id: str) -> tuple[set[str], set[str]]:
    """(order ids, user ids) of ``tenant_id``'s store that a write has claimed since seeding: every
    write bumps a version.

    A gift-card balance change claims the payment method, which counts as a change to its user.
    """
    order_ids = set(conn.execute(select(Order.order_id).where(Order.tenant_id == tenant_id, Order.version > 1)).scalars())
    user_ids = set(conn.execute(select(User.user_id).where(User.tenant_id == tenant_id, User.version > 1)).scalars())
    user_ids |= set(
        conn.execute(
            select(PaymentMethod.user_id).where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.version > 1)
        ).scalars()
    )
    return order_ids, user_ids


def db_sha256(data: dict[str, Any]) -> str:
    """The dataset's hash of a whole DB in db.json shape (compact separators, sorted keys)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def tau2_db_hash(data: dict[str, Any]) -> str:
    """The tau2 evaluator's own hash: model shape (optional order keys as null), default separators."""
    model_shape = dict(data)
    model_shape["orders"] = {order_id: _model_shape_order(order) for order_id, order in data["orders"].items()}
    text = json.dumps(model_shape, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _model_shape_order(order: dict[str, Any]) -> dict[str, Any]:
    return {**order, **{k: order.get(k) for k in ORDER_OPTIONAL_KEYS}}


class IncrementalHasher:
    """Both DB hashes of ``base`` with some records replaced, without re-serialising the whole DB.

    ``json.dumps(db, sort_keys=True)`` is the sorted concatenation of each record's own sorted dump,
    so the base records are dumped once and only replaced records are dumped again. The result is
    identical to ``db_sha256`` / ``tau2_db_hash`` of the merged DB (a test checks it).
    """

    _COMPACT: dict[str, Any] = {"sort_keys": True, "separators": (",", ":")}
    _DEFAULT: dict[str, Any] = {"sort_keys": True, "default": str}

    def __init__(self, base: dict[str, Any]) -> None:
        self._sections = sorted(base)
        self._compact = {s: {k: json.dumps(v, **self._COMPACT) for k, v in base[s].items()} for s in self._sections}
        self._default = {
            s: {k: json.dumps(self._tau2_shape(s, v), **self._DEFAULT) for k, v in base[s].items()}
            for s in self._sections
        }

    @staticmethod
    def _tau2_shape(section: str, record: dict[str, Any]) -> dict[str, Any]:
        return _model_shape_order(record) if section == "orders" else record

    def hashes(self, replaced: dict[str, dict[str, Any]]) -> tuple[str, str]:
        """(db_sha256, tau2_db_hash) of the base DB with ``replaced[section][id]`` records swapped in."""
        compact_parts, default_parts = [], []
        for section in self._sections:
            compact = dict(self._compact[section])
            default = dict(self._default[section])
            for key, record in replaced.get(section, {}).items():
                compact[key] = json.dumps(record, **self._COMPACT)
                default[key] = json.dumps(self._tau2_shape(section, record), **self._DEFAULT)
            name = json.dumps(section)
            compact_parts.append(name + ":{" + ",".join(json.dumps(k) + ":" + compact[k] for k in sorted(compact)) + "}")
            default_parts.append(
                name + ": {" + ", ".join(json.dumps(k) + ": " + default[k] for k in sorted(default)) + "}"
            )
        compact_text = "{" + ",".join(compact_parts) + "}"
        default_text = "{" + ", ".join(default_parts) + "}"
        return hashlib.sha256(compact_text.encode()).hexdigest(), hashlib.sha256(default_text.encode()).hexdigest()
