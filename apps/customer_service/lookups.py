"""Store lookups and money moves shared by the retail tools, raising the dataset's exact error texts.

Every lookup takes the tenant whose store it reads (a record of another tenant's store is "not
found", exactly as an id that exists nowhere). Every function works inside the caller's session
(one transaction per tool call); none commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from apps.customer_service.store import (
    Address,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    RetailStore,
    User,
    Variant,
    claim,
)
from moesaic.apps import ToolContext
from moesaic.errors import ToolError


def get_store(ctx: ToolContext) -> RetailStore:
    store = ctx.services.get("store") if ctx is not None else None
    if not isinstance(store, RetailStore):
        raise RuntimeError("customer_service tools need ctx.services['store'] (a RetailStore); run the app's setup")
    return store


def is_reference_compat(ctx: ToolContext) -> bool:
    return bool(ctx.services.get("reference_compat", False))


def get_order(session: Session, tenant_id: str, order_id: str) -> Order:
    order = session.get(Order, {"tenant_id": tenant_id, "order_id": order_id})
    if order is None:
        raise ToolError("Order not found")
    return order


def get_user(session: Session, tenant_id: str, user_id: str) -> User:
    user = session.get(User, {"tenant_id": tenant_id, "user_id": user_id})
    if user is None:
        raise ToolError("User not found")
    return user


def get_product(session: Session, tenant_id: str, product_id: str) -> Product:
    product = session.get(Product, {"tenant_id": tenant_id, "product_id": product_id})
    if product is None:
        raise ToolError("Product not found")
    return product


def get_variant(session: Session, tenant_id: str, product_id: str, item_id: str) -> Variant:
    product = get_product(session, tenant_id, product_id)
    variant = session.get(Variant, {"tenant_id": tenant_id, "product_id": product.product_id, "item_id": item_id})
    if variant is None:
        raise ToolError("Variant not found")
    return variant


def get_payment_method(session: Session, tenant_id: str, user_id: str, method_id: str) -> PaymentMethod:
    get_user(session, tenant_id, user_id)
    method = session.get(PaymentMethod, {"tenant_id": tenant_id, "user_id": user_id, "id": method_id})
    if method is None:
        raise ToolError("Payment method not found")
    return method


def check_counts(requested: list[str], order: Order, message: str) -> None:
    """Each requested id may appear at most as often as the order holds it; report the first that does not."""
    held = [item.item_id for item in order.items]
    for item_id in requested:
        if requested.count(item_id) > held.count(item_id):
            raise ToolError(message.format(item_id=item_id))


def first_item(order: Order, item_id: str) -> OrderItem:
    return next(item for item in order.items if item.item_id == item_id)


def available_variant(session: Session, item: OrderItem, new_item_id: str) -> Variant:
    """The available variant ``new_item_id`` of the order item's product, in the item's own tenant."""
    variant = get_variant(session, item.tenant_id, item.product_id, new_item_id)
    if not variant.available:
        raise ToolError(f"New item {new_item_id} not found or available")
    return variant


def add_transaction(order: Order, transaction_type: str, amount: float, method_id: str) -> None:
    order.payment_history.append(
        PaymentTransaction(
            tenant_id=order.tenant_id,
            position=len(order.payment_history),
            transaction_type=transaction_type,
            amount=amount,
            payment_method_id=method_id,
        )
    )


def adjust_gift_card(session: Session, method: PaymentMethod, delta: float) -> None:
    claim(session, method)
    assert method.balance is not None, f"gift card {method.id} has no balance"
    method.balance = round(method.balance + delta, 2)


def set_address(
    address: Address, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> None:
    address.address1, address.address2, address.city = address1, address2, city
    address.state, address.country, address.zip = state, country, zip
