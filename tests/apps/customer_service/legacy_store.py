"""The store tables exactly as the app created them before tenancy (``StoreBase.metadata.create_all``
of the old ``store.py``), to build "a database made by yesterday's code" for the migration test.

No ``tenant_id``; keys on the bare dataset ids; unnamed constraints, as ``create_all`` made them.
``fill_legacy_store`` puts a store's rows in, by seeding today's tables in a scratch database and
copying every row without its tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from apps.customer_service.seed import seed_store
from apps.customer_service.store import RetailStore, StoreBase

LEGACY = MetaData()


def _order_child(name: str, *columns: Column) -> Table:
    return Table(
        name,
        LEGACY,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("order_id", String(50), ForeignKey("cs_orders.order_id"), nullable=False, index=True),
        Column("position", Integer, nullable=False),
        *columns,
    )


Table(
    "cs_addresses",
    LEGACY,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(name, String(length), nullable=False) for name, length in
      (("address1", 200), ("address2", 200), ("city", 100), ("country", 100), ("state", 100), ("zip", 20))),
)
Table(
    "cs_users",
    LEGACY,
    Column("user_id", String(100), primary_key=True),
    Column("position", Integer, nullable=False, index=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(200), nullable=False, index=True),
    Column("address_id", Integer, ForeignKey("cs_addresses.id"), nullable=False),
    Column("version", Integer, nullable=False),
)
Table(
    "cs_payment_methods",
    LEGACY,
    Column("user_id", String(100), ForeignKey("cs_users.user_id"), primary_key=True),
    Column("id", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("source", String(20), nullable=False),
    Column("brand", String(50)),
    Column("last_four", String(4)),
    Column("balance", Double),
    Column("version", Integer, nullable=False),
)
Table(
    "cs_products",
    LEGACY,
    Column("product_id", String(50), primary_key=True),
    Column("position", Integer, nullable=False, index=True),
    Column("name", String(200), nullable=False),
)
Table(
    "cs_variants",
    LEGACY,
    Column("product_id", String(50), ForeignKey("cs_products.product_id"), primary_key=True),
    Column("item_id", String(50), primary_key=True, index=True),
    Column("position", Integer, nullable=False),
    Column("options", JSON, nullable=False),
    Column("available", Boolean, nullable=False),
    Column("price", Double, nullable=False),
)
Table(
    "cs_orders",
    LEGACY,
    Column("order_id", String(50), primary_key=True),
    Column("position", Integer, nullable=False, index=True),
    Column("user_id", String(100), ForeignKey("cs_users.user_id"), nullable=False, index=True),
    Column("address_id", Integer, ForeignKey("cs_addresses.id"), nullable=False),
    Column("status", String(40), nullable=False),
    Column("cancel_reason", String(100)),
    Column("exchange_items", JSON),
    Column("exchange_new_items", JSON),
    Column("exchange_payment_method_id", String(100)),
    Column("exchange_price_difference", Double),
    Column("return_items", JSON),
    Column("return_payment_method_id", String(100)),
    Column("version", Integer, nullable=False),
)
_order_child(
    "cs_order_items",
    Column("name", String(200), nullable=False),
    Column("product_id", String(50), nullable=False),
    Column("item_id", String(50), nullable=False),
    Column("price", Double, nullable=False),
    Column("options", JSON, nullable=False),
)
_order_child("cs_fulfillments", Column("tracking_ids", JSON, nullable=False), Column("item_ids", JSON, nullable=False))
_order_child(
    "cs_payment_history",
    Column("transaction_type", String(20), nullable=False),
    Column("amount", Double, nullable=False),
    Column("payment_method_id", String(100), nullable=False),
)


def create_legacy_store(engine: Engine, data: dict[str, Any]) -> dict[str, int]:
    """Create the old tables in ``engine``'s database and fill them with ``data``; return rows per table."""
    LEGACY.create_all(engine)
    scratch = create_engine("sqlite://")
    RetailStore(scratch).create_tables()
    seed_store(scratch, data, "scratch")
    counts: dict[str, int] = {}
    with scratch.connect() as source, engine.begin() as target:
        for table in LEGACY.sorted_tables:
            current = StoreBase.metadata.tables[table.name]
            rows = [{k: v for k, v in row._mapping.items() if k != "tenant_id"} for row in source.execute(select(current))]
            if rows:
                target.execute(insert(table), rows)
            counts[table.name] = len(rows)
    scratch.dispose()
    return counts
