"""The retail store's tables (users, addresses, payment methods, orders, items, fulfillments,
payment history, products, variants) and the ``RetailStore`` handle the tools use.

Every row carries ``tenant_id``: each tenant has a store of its own, and the natural ids of the
dataset (user_id, order_id, product_id, item_id, a payment method's id) are keys *within* a tenant,
so primary and foreign keys lead with ``tenant_id`` and two tenants can hold the same ids. Rows with
surrogate integer ids (addresses, order items, fulfillments, payment history) keep them as their key
and carry ``tenant_id`` for scoping. Every query names the tenant (``ToolContext.tenant_id``).

The tables live on their own ``MetaData`` (prefix ``cs_``); in the platform database they come from
the app's Alembic branch (``migrations/``), which a test keeps equal to these classes. ``position``
columns keep db.json's insertion order, which the tools' outputs and the export reproduce. Orders,
users and payment methods carry a ``version`` for optimistic concurrency: a write claims a row with a
compare-and-set UPDATE (``claim``), so two conversations changing the same order at once cannot both
succeed.

Money is stored as double precision on purpose: the reference's unrounded amounts
(``71.96000000000001``) must survive a round trip in reference-compatible mode.
This module does not implement tool semantics (``tools`` does) or read db.json (``seed`` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Double,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    exc,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from moesaic.errors import ToolError

log = logging.getLogger(__name__)

# Constraint names the migration writes too (index names are spelled out on each table).
NAMING_CONVENTION = {"pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(referred_table_name)s"}
TENANT_ID_LENGTH = 32  # moesaic's tenant ids: uuid4 hex


class StoreBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantRow:
    """``tenant_id``: the tenant whose store the row belongs to."""

    tenant_id: Mapped[str] = mapped_column(String(TENANT_ID_LENGTH), sort_order=-1)


class Address(TenantRow, StoreBase):
    """A postal address; every user and every order owns its own row."""

    __tablename__ = "cs_addresses"
    __table_args__ = (Index("ix_cs_addresses_tenant_id", "tenant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    zip: Mapped[str] = mapped_column(String(20))


class User(TenantRow, StoreBase):
    __tablename__ = "cs_users"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "user_id"),
        Index("ix_cs_users_tenant_position", "tenant_id", "position"),
        Index("ix_cs_users_tenant_email", "tenant_id", "email"),
    )

    user_id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    address_id: Mapped[int] = mapped_column(ForeignKey("cs_addresses.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    address: Mapped[Address] = relationship(lazy="joined")
    payment_methods: Mapped[list["PaymentMethod"]] = relationship(
        order_by="PaymentMethod.position", back_populates="user"
    )
    orders: Mapped[list["Order"]] = relationship(order_by="Order.position", back_populates="user", viewonly=True)


class PaymentMethod(TenantRow, StoreBase):
    """A credit card, PayPal account or gift card (``balance`` is set for gift cards only)."""

    __tablename__ = "cs_payment_methods"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "user_id", "id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["cs_users.tenant_id", "cs_users.user_id"]),
    )

    user_id: Mapped[str] = mapped_column(String(100))
    id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))
    brand: Mapped[str | None] = mapped_column(String(50), nullable=True)
    last_four: Mapped[str | None] = mapped_column(String(4), nullable=True)
    balance: Mapped[float | None] = mapped_column(Double, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    user: Mapped[User] = relationship(back_populates="payment_methods")

    @property
    def is_gift_card(self) -> bool:
        return self.source == "gift_card"


class Product(TenantRow, StoreBase):
    __tablename__ = "cs_products"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "product_id"),
        Index("ix_cs_products_tenant_position", "tenant_id", "position"),
    )

    product_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))

    variants: Mapped[list["Variant"]] = relationship(order_by="Variant.position", back_populates="product")


class Variant(TenantRow, StoreBase):
    """One purchasable item of a product; ``item_id`` is what orders refer to."""

    __tablename__ = "cs_variants"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "product_id", "item_id"),
        ForeignKeyConstraint(["tenant_id", "product_id"], ["cs_products.tenant_id", "cs_products.product_id"]),
        Index("ix_cs_variants_tenant_item", "tenant_id", "item_id"),
    )

    product_id: Mapped[str] = mapped_column(String(50))
    item_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    available: Mapped[bool] = mapped_column(Boolean)
    price: Mapped[float] = mapped_column(Double)

    product: Mapped[Product] = relationship(back_populates="variants")


class Order(TenantRow, StoreBase):
    """An order; the optional exchange/return/cancel fields are NULL until a tool sets them."""

    __tablename__ = "cs_orders"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "order_id"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["cs_users.tenant_id", "cs_users.user_id"]),
        Index("ix_cs_orders_tenant_position", "tenant_id", "position"),
        Index("ix_cs_orders_tenant_user", "tenant_id", "user_id"),
    )

    order_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(100))
    address_id: Mapped[int] = mapped_column(ForeignKey("cs_addresses.id"))
    status: Mapped[str] = mapped_column(String(40))
    cancel_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    exchange_items: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    exchange_new_items: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    exchange_payment_method_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    exchange_price_difference: Mapped[float | None] = mapped_column(Double, nullable=True)
    return_items: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    return_payment_method_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    user: Mapped[User] = relationship(back_populates="orders")
    address: Mapped[Address] = relationship(lazy="joined")
    items: Mapped[list["OrderItem"]] = relationship(order_by="OrderItem.position", cascade="all, delete-orphan")
    fulfillments: Mapped[list["Fulfillment"]] = relationship(
        order_by="Fulfillment.position", cascade="all, delete-orphan"
    )
    payment_history: Mapped[list["PaymentTransaction"]] = relationship(
        order_by="PaymentTransaction.position", cascade="all, delete-orphan"
    )


def _order_child_args(table: str) -> tuple[Any, ...]:
    """An order's child rows point at it by (tenant_id, order_id)."""
    return (
        ForeignKeyConstraint(["tenant_id", "order_id"], ["cs_orders.tenant_id", "cs_orders.order_id"]),
        Index(f"ix_{table}_tenant_order", "tenant_id", "order_id"),
    )


class OrderItem(TenantRow, StoreBase):
    __tablename__ = "cs_order_items"
    __table_args__ = _order_child_args(__tablename__)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str] = mapped_column(String(50))
    item_id: Mapped[str] = mapped_column(String(50))
    price: Mapped[float] = mapped_column(Double)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)


class Fulfillment(TenantRow, StoreBase):
    __tablename__ = "cs_fulfillments"
    __table_args__ = _order_child_args(__tablename__)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[str]] = mapped_column(JSON)
    item_ids: Mapped[list[str]] = mapped_column(JSON)


class PaymentTransaction(TenantRow, StoreBase):
    """One entry of an order's payment history: a payment or a refund."""

    __tablename__ = "cs_payment_history"
    __table_args__ = _order_child_args(__tablename__)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer)
    transaction_type: Mapped[str] = mapped_column(String(20))
    amount: Mapped[float] = mapped_column(Double)
    payment_method_id: Mapped[str] = mapped_column(String(100))


class ConcurrentModification(ToolError):
    """Another conversation changed the same record while this tool call ran."""


def claim(session: Session, row: Order | User | PaymentMethod) -> None:
    """Compare-and-set the row's version; raise ``ConcurrentModification`` if someone else got there first.

    On PostgreSQL the UPDATE also row-locks until commit, so a second writer waits, then finds the
    version moved and fails; on SQLite the database write lock serialises writers the same way.
    """
    model = type(row)
    if isinstance(row, Order):
        where = [Order.tenant_id == row.tenant_id, Order.order_id == row.order_id]
        label = f"Order {row.order_id}"
    elif isinstance(row, User):
        where = [User.tenant_id == row.tenant_id, User.user_id == row.user_id]
        label = f"User {row.user_id}"
    else:
        where = [
            PaymentMethod.tenant_id == row.tenant_id,
            PaymentMethod.user_id == row.user_id,
            PaymentMethod.id == row.id,
        ]
        label = f"Payment method {row.id}"
    seen = row.version
    result = session.execute(
        update(model).where(*where, model.version == seen).values(version=seen + 1),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentModification(
            f"{label} was changed by another conversation at the same time; nothing was changed. "
            "Look it up again before retrying."
        )
    session.expire(row, ["version"])


Seeder = Callable[[Engine, str], None]  # (engine, tenant_id): fill that tenant's empty store, in one transaction


class RetailStore:
    """The store database as the tools see it: one transaction per tool call, inside one tenant's store.

    With a ``seeder``, a tenant's store is seeded on first use (``ensure_seeded``: once per tenant, also
    when several threads or processes ask at once). Without one (the replay's and the tests' scratch
    stores, seeded by hand) a tenant with no rows simply has an empty store.
    """

    def __init__(self, engine: Engine, *, seeder: Seeder | None = None) -> None:
        self.engine = engine
        self._seeder = seeder
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._seeded: set[str] = set()
        self._seed_lock = threading.Lock()

    def create_tables(self) -> None:
        """Create the tables directly, for scratch stores (replay, tests). The platform database gets
        them from the app's migrations instead."""
        StoreBase.metadata.create_all(self.engine)

    def is_empty(self, tenant_id: str) -> bool:
        with self._sessions() as session:
            has_product = session.scalar(select(Product.product_id).where(Product.tenant_id == tenant_id).limit(1))
            has_user = session.scalar(select(User.user_id).where(User.tenant_id == tenant_id).limit(1))
            return has_product is None and has_user is None

    def ensure_seeded(self, tenant_id: str) -> None:
        """Seed ``tenant_id``'s store if it is empty and this store has a seeder; a no-op afterwards."""
        if tenant_id in self._seeded:
            return
        with self._seed_lock:
            if tenant_id in self._seeded:
                return
            if self._seeder is not None and self.is_empty(tenant_id):
                try:
                    self._seeder(self.engine, tenant_id)
                except exc.IntegrityError:
                    if self.is_empty(tenant_id):
                        raise
                    log.info("customer_service: another process seeded tenant %s's store first", tenant_id)
            self._seeded.add(tenant_id)

    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[Session]:
        """A session on ``tenant_id``'s store (seeded first if need be). Commit when the block succeeds;
        roll everything back on any error (a failed write changes nothing). Queries inside must still
        name the tenant: the session itself does not filter."""
        self.ensure_seeded(tenant_id)
        session = self._sessions()
        try:
            yield session
            session.commit()
        except exc.OperationalError as error:
            session.rollback()
            if _is_lock_conflict(error):
                raise ConcurrentModification(
                    "The store is busy with another change to the same records; nothing was changed. "
                    "Please retry."
                ) from error
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _is_lock_conflict(error: exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "could not serialize" in text or "deadlock detected" in text
