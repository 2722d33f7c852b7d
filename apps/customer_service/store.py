"""The retail store's tables (users, addresses, payment methods, orders, items, fulfillments,
payment history, products, variants) and the ``RetailStore`` handle the tools use.

The tables live on their own ``MetaData`` (prefix ``cs_``) so the app can create them in the platform
database without touching the platform's Alembic history. ``position`` columns keep db.json's
insertion order, which the tools' outputs and the export reproduce. Orders, users and payment methods
carry a ``version`` for optimistic concurrency: a write claims a row with a compare-and-set UPDATE
(``claim``), so two conversations changing the same order at once cannot both succeed.

Money is stored as double precision on purpose: the reference's unrounded amounts
(``71.96000000000001``) must survive a round trip in reference-compatible mode.
This module does not implement tool semantics (``tools`` does) or read db.json (``seed`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Double,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    exc,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from moesaic.errors import ToolError


class StoreBase(DeclarativeBase):
    metadata = MetaData()


class Address(StoreBase):
    """A postal address; every user and every order owns its own row."""

    __tablename__ = "cs_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    zip: Mapped[str] = mapped_column(String(20))


class User(StoreBase):
    __tablename__ = "cs_users"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), index=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("cs_addresses.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    address: Mapped[Address] = relationship(lazy="joined")
    payment_methods: Mapped[list["PaymentMethod"]] = relationship(
        order_by="PaymentMethod.position", back_populates="user"
    )
    orders: Mapped[list["Order"]] = relationship(order_by="Order.position", back_populates="user", viewonly=True)


class PaymentMethod(StoreBase):
    """A credit card, PayPal account or gift card (``balance`` is set for gift cards only)."""

    __tablename__ = "cs_payment_methods"

    user_id: Mapped[str] = mapped_column(ForeignKey("cs_users.user_id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
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


class Product(StoreBase):
    __tablename__ = "cs_products"

    product_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))

    variants: Mapped[list["Variant"]] = relationship(order_by="Variant.position", back_populates="product")


class Variant(StoreBase):
    """One purchasable item of a product; ``item_id`` is what orders refer to."""

    __tablename__ = "cs_variants"

    product_id: Mapped[str] = mapped_column(ForeignKey("cs_products.product_id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    available: Mapped[bool] = mapped_column(Boolean)
    price: Mapped[float] = mapped_column(Double)

    product: Mapped[Product] = relationship(back_populates="variants")


class Order(StoreBase):
    """An order; the optional exchange/return/cancel fields are NULL until a tool sets them."""

    __tablename__ = "cs_orders"
    order_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("cs_users.user_id"), index=True)
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


class OrderItem(StoreBase):
    __tablename__ = "cs_order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("cs_orders.order_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str] = mapped_column(String(50))
    item_id: Mapped[str] = mapped_column(String(50))
    price: Mapped[float] = mapped_column(Double)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)


class Fulfillment(StoreBase):
    __tablename__ = "cs_fulfillments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("cs_orders.order_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[str]] = mapped_column(JSON)
    item_ids: Mapped[list[str]] = mapped_column(JSON)


class PaymentTransaction(StoreBase):
    """One entry of an order's payment history: a payment or a refund."""

    __tablename__ = "cs_payment_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("cs_orders.order_id"), index=True)
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
        where = [Order.order_id == row.order_id]
        label = f"Order {row.order_id}"
    elif isinstance(row, User):
        where = [User.user_id == row.user_id]
        label = f"User {row.user_id}"
    else:
        where = [PaymentMethod.user_id == row.user_id, PaymentMethod.id == row.id]
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


class RetailStore:
    """The store database as the tools see it: one transaction per tool call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=True)

    def create_tables(self) -> None:
        StoreBase.metadata.create_all(self.engine)

    def is_empty(self) -> bool:
        with self._sessions() as session:
            return session.query(Product.product_id).first() is None and session.query(User.user_id).first() is None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit when the block succeeds; roll everything back on any error (a failed write changes nothing)."""
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
