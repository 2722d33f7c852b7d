"""Pydantic models of db.json's schema: what ``seed`` validates before it writes anything.

Field order follows db.json (and the tau2 reference's data model), which is also the key order of
the tools' JSON outputs. This module validates files; it does not touch the database.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

OrderStatus = Literal[
    "pending",
    "processed",
    "delivered",
    "cancelled",
    "exchange requested",
    "return requested",
    "pending (item modified)",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(_Strict):
    address1: str
    address2: str
    city: str
    country: str
    state: str
    zip: str


class NameIn(_Strict):
    first_name: str
    last_name: str


class CreditCardIn(_Strict):
    source: Literal["credit_card"]
    id: str
    brand: str
    last_four: str


class GiftCardIn(_Strict):
    source: Literal["gift_card"]
    id: str
    balance: float = Field(ge=0)


class PaypalIn(_Strict):
    source: Literal["paypal"]
    id: str


PaymentMethodIn = Annotated[CreditCardIn | GiftCardIn | PaypalIn, Field(discriminator="source")]


class UserIn(_Strict):
    user_id: str
    name: NameIn
    address: AddressIn
    email: str
    payment_methods: dict[str, PaymentMethodIn]
    orders: list[str]


class VariantIn(_Strict):
    item_id: str
    options: dict[str, str]
    available: bool
    price: float


class ProductIn(_Strict):
    name: str
    product_id: str
    variants: dict[str, VariantIn]


class OrderItemIn(_Strict):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, str]


class FulfillmentIn(_Strict):
    tracking_id: list[str]
    item_ids: list[str]


class PaymentIn(_Strict):
    transaction_type: Literal["payment", "refund"]
    amount: float
    payment_method_id: str


class OrderIn(_Strict):
    order_id: str
    user_id: str
    address: AddressIn
    items: list[OrderItemIn]
    status: OrderStatus
    fulfillments: list[FulfillmentIn]
    payment_history: list[PaymentIn]
    cancel_reason: str | None = None
    exchange_items: list[str] | None = None
    exchange_new_items: list[str] | None = None
    exchange_payment_method_id: str | None = None
    exchange_price_difference: float | None = None
    return_items: list[str] | None = None
    return_payment_method_id: str | None = None


class RetailDataIn(_Strict):
    """The whole store as db.json holds it: products, users and orders keyed by their ids."""

    products: dict[str, ProductIn]
    users: dict[str, UserIn]
    orders: dict[str, OrderIn]
