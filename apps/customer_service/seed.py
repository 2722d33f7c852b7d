"""Fill one tenant's store from a db.json-shaped file: the tau2 retail dataset or our own demo store.

``dataset_db_path(settings)`` finds the dataset's db.json under ``settings.datasets_dir``; when it is
absent the app seeds ``seed/demo_store.json`` (a handful of users, orders and products we wrote).
Rows go in with bulk Core inserts inside one transaction, every row stamped with the tenant.
This module never copies the dataset into the repository and never decides *whether* to seed
(``RetailStore.ensure_seeded`` does, once per tenant).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert

from apps.customer_service.schemas import RetailDataIn
from apps.customer_service.store import (
    Address,
    Seeder,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    User,
    Variant,
)

if TYPE_CHECKING:
    from moesaic.config import Settings

log = logging.getLogger(__name__)

DEMO_STORE_PATH = Path(__file__).parent / "seed" / "demo_store.json"
DATASET_NAME = "tau2_retail"


def dataset_db_path(settings: "Settings") -> Path | None:
    """The dataset's db.json if it exists under ``settings.datasets_dir``, else None."""
    path = Path(settings.datasets_dir) / DATASET_NAME / "db.json"
    return path if path.is_file() else None


def load_store_data(path: Path) -> dict[str, Any]:
    """Read and validate a db.json-shaped file; return the plain dict (key order kept)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    validate_store_data(data, source=str(path))
    return data


def validate_store_data(data: dict[str, Any], *, source: str = "store data") -> None:
    """Check the schema and the cross-references the tools rely on; raise ValueError naming the problem."""
    from pydantic import ValidationError

    try:
        RetailDataIn.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{source} does not match db.json's schema: {exc}") from exc
    for key, section in (("products", "product_id"), ("users", "user_id"), ("orders", "order_id")):
        for record_id, record in data[key].items():
            if record[section] != record_id:
                raise ValueError(f"{source}: {key}[{record_id!r}] has {section} {record[section]!r}")
    orders_by_user: dict[str, list[str]] = {user_id: [] for user_id in data["users"]}
    for order_id, order in data["orders"].items():
        if order["user_id"] not in orders_by_user:
            raise ValueError(f"{source}: order {order_id} belongs to unknown user {order['user_id']!r}")
        orders_by_user[order["user_id"]].append(order_id)
    for user_id, user in data["users"].items():
        # The store derives a user's order list from the orders table, in file order.
        if user["orders"] != orders_by_user[user_id]:
            raise ValueError(f"{source}: user {user_id}'s orders list does not match the orders in file order")
        for method_id, method in user["payment_methods"].items():
            if method["id"] != method_id:
                raise ValueError(f"{source}: user {user_id} payment method {method_id!r} has id {method['id']!r}")
    for product_id, product in data["products"].items():
        for item_id, variant in product["variants"].items():
            if variant["item_id"] != item_id:
                raise ValueError(f"{source}: product {product_id} variant {item_id!r} has item_id {variant['item_id']!r}")


def seed_store(bind: Engine | Connection, data: dict[str, Any], tenant_id: str) -> None:
    """Insert ``data`` (already validated) into ``tenant_id``'s empty store, in one transaction."""
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            _insert_all(connection, data, tenant_id)
    else:
        _insert_all(bind, data, tenant_id)


def file_seeder(path: Path) -> Seeder:
    """A ``RetailStore`` seeder that fills a tenant's store from the db.json-shaped file at ``path``
    (read and validated each time it runs: once per new tenant)."""

    def seed(engine: Engine, tenant_id: str) -> None:
        seed_store(engine, load_store_data(path), tenant_id)
        log.info("customer_service: seeded tenant %s's store from %s", tenant_id, path)

    return seed


def _insert_all(conn: Connection, data: dict[str, Any], tenant_id: str) -> None:
    users = list(data["users"].values())
    orders = list(data["orders"].values())
    products = list(data["products"].values())

    addresses = [{**u["address"], "tenant_id": tenant_id} for u in users]
    addresses += [{**o["address"], "tenant_id": tenant_id} for o in orders]
    address_ids = list(
        conn.execute(insert(Address).returning(Address.id, sort_by_parameter_order=True), addresses).scalars()
    )
    user_address = address_ids[: len(users)]
    order_address = address_ids[len(users) :]

    conn.execute(
        insert(Product),
        [
            {"tenant_id": tenant_id, "product_id": p["product_id"], "name": p["name"], "position": i}
            for i, p in enumerate(products)
        ],
    )
    conn.execute(
        insert(Variant),
        [
            {
                "tenant_id": tenant_id,
                "product_id": p["product_id"],
                "item_id": v["item_id"],
                "position": j,
                "options": v["options"],
                "available": v["available"],
                "price": float(v["price"]),
            }
            for p in products
            for j, v in enumerate(p["variants"].values())
        ],
    )
    conn.execute(
        insert(User),
        [
            {
                "tenant_id": tenant_id,
                "user_id": u["user_id"],
                "position": i,
                "first_name": u["name"]["first_name"],
                "last_name": u["name"]["last_name"],
                "email": u["email"],
                "address_id": user_address[i],
                "version": 1,
            }
            for i, u in enumerate(users)
        ],
    )
    conn.execute(
        insert(PaymentMethod),
        [
            {
                "tenant_id": tenant_id,
                "user_id": u["user_id"],
                "id": m["id"],
                "position": j,
                "source": m["source"],
                "brand": m.get("brand"),
                "last_four": m.get("last_four"),
                "balance": float(m["balance"]) if "balance" in m else None,
                "version": 1,
            }
            for u in users
            for j, m in enumerate(u["payment_methods"].values())
        ],
    )
    conn.execute(
        insert(Order),
        [
            {
                "tenant_id": tenant_id,
                "order_id": o["order_id"],
                "position": i,
                "user_id": o["user_id"],
                "address_id": order_address[i],
                "status": o["status"],
                "cancel_reason": o.get("cancel_reason"),
                "exchange_items": o.get("exchange_items"),
                "exchange_new_items": o.get("exchange_new_items"),
                "exchange_payment_method_id": o.get("exchange_payment_method_id"),
                "exchange_price_difference": o.get("exchange_price_difference"),
                "return_items": o.get("return_items"),
                "return_payment_method_id": o.get("return_payment_method_id"),
                "version": 1,
            }
            for i, o in enumerate(orders)
        ],
    )
    item_rows = [
        {"tenant_id": tenant_id, "order_id": o["order_id"], "position": j, "name": it["name"],
         "product_id": it["product_id"], "item_id": it["item_id"], "price": float(it["price"]),
         "options": it["options"]}
        for o in orders
        for j, it in enumerate(o["items"])
    ]
    fulfillment_rows = [
        {"tenant_id": tenant_id, "order_id": o["order_id"], "position": j, "tracking_ids": f["tracking_id"],
         "item_ids": f["item_ids"]}
        for o in orders
        for j, f in enumerate(o["fulfillments"])
    ]
    payment_rows = [
        {"tenant_id": tenant_id, "order_id": o["order_id"], "position": j, "transaction_type": p["transaction_type"],
         "amount": float(p["amount"]), "payment_method_id": p["payment_method_id"]}
        for o in orders
        for j, p in enumerate(o["payment_history"])
    ]
    for model, rows in ((OrderItem, item_rows), (Fulfillment, fulfillment_rows), (PaymentTransaction, payment_rows)):
        if rows:
            conn.execute(insert(model), rows)
