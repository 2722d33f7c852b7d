"""The 16 retail tools the model can call, with the tau2 retail semantics and error texts.

Each tool takes ``ctx`` (a ``moesaic.apps.ToolContext``): ``ctx.tenant_id`` picks the tenant's own
store (every query names it; another tenant's records are "not found"), ``ctx.services["store"]`` is
the ``RetailStore`` and ``ctx.services["reference_compat"]`` (default False) switches
``modify_pending_order_items`` to the reference's exact, defective behaviour:

- reference: every changed item gets the *last* pair's price and options, and the payment amount is
  the unrounded float sum (``71.96000000000001``);
- ours: each item gets its own new variant's price and options, and money is rounded to cents.

Every tool runs in one transaction, so a failed write changes nothing. Recoverable failures raise
``ToolError`` with the dataset's exact messages (TOOLS.md §5); the platform sends them back to the
model as ``Error: <message>``. Writes claim the rows they change with a compare-and-set on their
version (``store.claim``). The policy's conversation rules are declared here and enforced by the agent
loop for every model: the two find-user tools authenticate the conversation (``ctx.authenticate``);
tools on a customer's records require that identity and name their record's owner (``order_owner``,
``user_owner``), so another customer's order is refused before the tool runs; writes need the
customer's explicit confirmation (``writes=True``).
"""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

from sqlalchemy import func, select

from apps.customer_service.export import order_to_model, product_to_model, user_to_model, variant_record
from apps.customer_service.lookups import (
    add_transaction,
    adjust_gift_card,
    available_variant,
    check_counts,
    first_item,
    get_order,
    get_payment_method,
    get_product,
    get_store,
    get_user,
    is_reference_compat,
    set_address,
)
from apps.customer_service.store import Address, Order, Product, User, Variant, claim
from moesaic.apps import ToolContext
from moesaic.errors import ToolError
from moesaic.tools import ToolSpec, tool

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


def order_owner(ctx: ToolContext, arguments: dict[str, Any]) -> str | None:
    """The user id of the order the arguments name (None: no such order; the tool then says so)."""
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = session.get(Order, {"tenant_id": ctx.tenant_id, "order_id": arguments.get("order_id", "")})
        return order.user_id if order is not None else None


def user_owner(ctx: ToolContext, arguments: dict[str, Any]) -> str | None:
    """The user id the arguments name: a customer may only read or change their own account."""
    user_id = arguments.get("user_id")
    return str(user_id) if user_id else None

# ---------------------------------------------------------------- generic tools


# ``calculate`` evaluates exactly as the reference's ``eval(expression, {"__builtins__": None}, {})``
# does (same results, same error texts: SyntaxError, TypeError for ``()`` or ``1()``, complex powers).
# The allowed characters admit no names, attributes or subscripts, so the only danger is resource
# use, and only ``**`` can blow up: each ``a ** b`` is routed through ``_guarded_pow``, which refuses
# integer powers of more than ``_MAX_POW_BITS`` bits with the error the reference would end with
# once it had ground through them (``float()`` of the result: ``int too large to convert to float``).
_MAX_POW_BITS = 1 << 20
_POW_NAME = "_pow"


def _guarded_pow(base: Any, exponent: Any) -> Any:
    huge = type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1
    if huge and exponent * (abs(base).bit_length() - 1) > _MAX_POW_BITS:
        raise OverflowError("int too large to convert to float")
    return base**exponent


class _PowToCall(ast.NodeTransformer):
    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(func=ast.Name(id=_POW_NAME, ctx=ast.Load()), args=[node.left, node.right], keywords=[])
            return ast.copy_location(call, node)
        return node


def _reference_eval(expression: str) -> Any:
    source = expression.lstrip(" \t")  # eval() strips leading spaces and tabs; compile() does not
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "SyntaxWarning: 'int' object is not callable"
        tree = compile(source, "<string>", "eval", ast.PyCF_ONLY_AST)
        code = compile(ast.fix_missing_locations(_PowToCall().visit(tree)), "<string>", "eval")
    return eval(code, {"__builtins__": None, _POW_NAME: _guarded_pow}, {})


@tool
def calculate(expression: str, ctx: ToolContext) -> str:
    """Calculate the result of a mathematical expression.

    Args:
        expression: The mathematical expression to calculate, such as '2 + 2'. The expression can
            contain numbers, operators (+, -, *, /), parentheses, and spaces.
    """
    if not all(char in "0123456789+-*/(). " for char in expression):
        raise ToolError("Invalid characters in expression")
    try:
        return str(round(float(_reference_eval(expression)), 2))
    except Exception as exc:
        raise ToolError(str(exc)) from exc


@tool
def transfer_to_human_agents(summary: str, ctx: ToolContext) -> str:
    """Transfer the user to a human agent, with a summary of the user's issue.

    Only transfer if the user explicitly asks for a human agent, or the user's issue cannot be
    resolved by you within the policy and the available tools.

    Args:
        summary: A summary of the user's issue for the human agent.
    """
    ctx.request_handoff(summary)
    return "Transfer successful"


# ---------------------------------------------------------------- read tools


@tool
def find_user_id_by_email(email: str, ctx: ToolContext) -> str:
    """Find user id by email. If the user is not found, the function will return an error message.

    Args:
        email: The email of the user, such as 'something@example.com'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        user_id = session.scalars(
            select(User.user_id)
            .where(User.tenant_id == ctx.tenant_id, func.lower(User.email) == email.lower())
            .order_by(User.position)
            .limit(1)
        ).first()
    if user_id is None:
        raise ToolError("User not found")
    ctx.authenticate(user_id, "email")
    return user_id


@tool
def find_user_id_by_name_zip(first_name: str, last_name: str, zip: str, ctx: ToolContext) -> str:
    """Find user id by first name, last name, and zip code. If the user is not found, the function
    will return an error message. By default, find user id by email, and only call this function
    if the user is not found by email or cannot remember email.

    Args:
        first_name: The first name of the customer, such as 'John'.
        last_name: The last name of the customer, such as 'Doe'.
        zip: The zip code of the customer, such as '12345'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        rows = session.execute(
            select(User.user_id, User.first_name, User.last_name)
            .join(Address, User.address_id == Address.id)
            .where(User.tenant_id == ctx.tenant_id, Address.tenant_id == ctx.tenant_id, Address.zip == zip)
            .order_by(User.position)
        ).all()
    for user_id, first, last in rows:
        if first.lower() == first_name.lower() and last.lower() == last_name.lower():
            ctx.authenticate(user_id, "name_zip")
            return user_id
    raise ToolError("User not found")


@tool(owner=order_owner)
def get_order_details(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Get the status and details of an order.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        return order_to_model(get_order(session, ctx.tenant_id, order_id))


@tool
def get_product_details(product_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Get the inventory details of a product: its name and every variant item with options,
    availability and price.

    Args:
        product_id: The product id, such as '6086499569'. Be careful the product id is different
            from the item id.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        return product_to_model(get_product(session, ctx.tenant_id, product_id))


@tool
def get_item_details(item_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Get the inventory details of an item (one variant of a product).

    Args:
        item_id: The item id, such as '6086499569'. Be careful the item id is different from the
            product id.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        variant = session.scalars(
            select(Variant)
            .join(Product, (Variant.tenant_id == Product.tenant_id) & (Variant.product_id == Product.product_id))
            .where(Variant.tenant_id == ctx.tenant_id, Variant.item_id == item_id)
            .order_by(Product.position)
            .limit(1)
        ).first()
        if variant is None:
            raise ToolError("Item not found")
        return variant_record(variant)


@tool(owner=user_owner)
def get_user_details(user_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Get the details of a user, including their orders and payment methods (with gift card balances).

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        return user_to_model(get_user(session, ctx.tenant_id, user_id))


@tool
def list_all_product_types(ctx: ToolContext) -> str:
    """List the name and product id of all product types.

    Each product type has a variety of different items with unique item ids and options.
    There are only 50 product types in the store.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        rows = session.execute(
            select(Product.name, Product.product_id).where(Product.tenant_id == ctx.tenant_id).order_by(Product.position)
        ).all()
    return json.dumps({name: product_id for name, product_id in rows}, sort_keys=True)


# ---------------------------------------------------------------- write tools


@tool(writes=True, owner=order_owner)
def cancel_pending_order(order_id: str, reason: str, ctx: ToolContext) -> dict[str, Any]:
    """Cancel a pending order. If the order is already processed or delivered, it cannot be
    cancelled. The agent needs to explain the cancellation detail and ask for explicit user
    confirmation (yes/no) to proceed. If the user confirms, the order status will be changed to
    'cancelled' and the payment will be refunded. The refund will be added to the user's gift card
    balance immediately if the payment was made using a gift card, otherwise the refund would take
    5-7 business days to process.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        reason: The reason for cancellation, which should be either 'no longer needed' or
            'ordered by mistake'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if order.status != "pending":
            raise ToolError("Non-pending order cannot be cancelled")
        if reason not in CANCEL_REASONS:
            raise ToolError("Invalid reason")
        claim(session, order)
        refunds = []
        for payment in list(order.payment_history):
            method = get_payment_method(session, order.tenant_id, order.user_id, payment.payment_method_id)
            refunds.append((payment.amount, payment.payment_method_id))
            if method.is_gift_card:
                adjust_gift_card(session, method, payment.amount)
        order.status = "cancelled"
        order.cancel_reason = reason
        for amount, method_id in refunds:
            add_transaction(order, "refund", amount, method_id)
        session.flush()
        return order_to_model(order)


@tool(writes=True, owner=order_owner)
def exchange_delivered_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, ctx: ToolContext
) -> dict[str, Any]:
    """Exchange items in a delivered order to new items of the same product type. For a delivered
    order, return or exchange can be only done once. The agent needs to explain the exchange detail
    and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be exchanged, each such as '1008292230'. There could be duplicate
            items in the list.
        new_item_ids: The item ids to be exchanged for, each such as '1008292230'. There could be
            duplicate items in the list. Each new item id should match the item id in the same
            position and be of the same product.
        payment_method_id: The payment method id to pay or be refunded the price difference, such
            as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user
            or order details.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if order.status != "delivered":
            raise ToolError("Non-delivered order cannot be exchanged")
        check_counts(item_ids, order, "Number of {item_id} not found.")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match.")
        diff = 0.0
        for old_id, new_id in zip(item_ids, new_item_ids):
            item = first_item(order, old_id)
            variant = available_variant(session, item, new_id)
            diff += variant.price - item.price
        diff = round(diff, 2)
        method = get_payment_method(session, order.tenant_id, order.user_id, payment_method_id)
        if method.is_gift_card and (method.balance or 0.0) < diff:
            raise ToolError("Insufficient gift card balance to pay for the price difference")
        claim(session, order)
        order.status = "exchange requested"
        order.exchange_items = sorted(item_ids)
        order.exchange_new_items = sorted(new_item_ids)
        order.exchange_payment_method_id = payment_method_id
        order.exchange_price_difference = diff
        session.flush()
        return order_to_model(order)


@tool(writes=True, owner=order_owner)
def modify_pending_order_address(
    order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str, ctx: ToolContext
) -> dict[str, Any]:
    """Modify the shipping address of a pending order. The agent needs to explain the modification
    detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if "pending" not in order.status:
            raise ToolError("Non-pending order cannot be modified")
        claim(session, order)
        set_address(order.address, address1, address2, city, state, country, zip)
        session.flush()
        return order_to_model(order)


@tool(writes=True, owner=order_owner)
def modify_pending_order_items(
    order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, ctx: ToolContext
) -> dict[str, Any]:
    """Modify items in a pending order to new items of the same product type. For a pending order,
    this function can only be called once. The agent needs to explain the exchange detail and ask
    for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be modified, each such as '1008292230'. There could be duplicate
            items in the list.
        new_item_ids: The item ids to be modified for, each such as '1008292230'. There could be
            duplicate items in the list. Each new item id should match the item id in the same
            position and be of the same product.
        payment_method_id: The payment method id to pay or be refunded the price difference, such
            as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user
            or order details.
    """
    is_compat = is_reference_compat(ctx)
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if order.status != "pending":
            raise ToolError("Non-pending order cannot be modified")
        check_counts(item_ids, order, "{item_id} not found")
        if len(item_ids) != len(new_item_ids):
            raise ToolError("The number of items to be exchanged should match")
        diff = 0.0
        new_variants: list[Variant] = []
        for old_id, new_id in zip(item_ids, new_item_ids):
            if old_id == new_id:
                raise ToolError("The new item id should be different from the old item id")
            item = first_item(order, old_id)
            variant = available_variant(session, item, new_id)
            new_variants.append(variant)
            diff += variant.price - item.price
        if not is_compat:
            diff = round(diff, 2)
        method = get_payment_method(session, order.tenant_id, order.user_id, payment_method_id)
        if method.is_gift_card and (method.balance or 0.0) < diff:
            raise ToolError("Insufficient gift card balance to pay for the new item")
        claim(session, order)
        amount = abs(diff) if is_compat else round(abs(diff), 2)
        add_transaction(order, "payment" if diff > 0 else "refund", amount, payment_method_id)
        if method.is_gift_card:
            adjust_gift_card(session, method, -diff)
        for old_id, variant in zip(item_ids, new_variants):
            item = first_item(order, old_id)
            # The reference reuses its leftover loop variable: every item gets the last pair's variant.
            source = new_variants[-1] if is_compat else variant
            item.item_id = variant.item_id
            item.price = source.price
            item.options = dict(source.options)
        order.status = "pending (item modified)"
        session.flush()
        return order_to_model(order)


@tool(writes=True, owner=order_owner)
def modify_pending_order_payment(order_id: str, payment_method_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Modify the payment method of a pending order. The agent needs to explain the modification
    detail and ask for explicit user confirmation (yes/no) to proceed.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        payment_method_id: The payment method id to pay or be refunded the price difference, such
            as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user
            or order details.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if "pending" not in order.status:
            raise ToolError("Non-pending order cannot be modified")
        new_method = get_payment_method(session, order.tenant_id, order.user_id, payment_method_id)
        history = order.payment_history
        if len(history) != 1 or history[0].transaction_type != "payment":
            raise ToolError("There should be exactly one payment for a pending order")
        amount, old_method_id = history[0].amount, history[0].payment_method_id
        if payment_method_id == old_method_id:
            raise ToolError("The new payment method should be different from the current one")
        if new_method.is_gift_card and (new_method.balance or 0.0) < amount:
            raise ToolError("Insufficient gift card balance to pay for the order")
        old_method = get_payment_method(session, order.tenant_id, order.user_id, old_method_id)
        claim(session, order)
        add_transaction(order, "payment", amount, payment_method_id)
        add_transaction(order, "refund", amount, old_method_id)
        if new_method.is_gift_card:
            adjust_gift_card(session, new_method, -amount)
        if old_method.is_gift_card:
            adjust_gift_card(session, old_method, amount)
        session.flush()
        return order_to_model(order)


@tool(writes=True, owner=user_owner)
def modify_user_address(
    user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str, ctx: ToolContext
) -> dict[str, Any]:
    """Modify the default address of a user. The agent needs to explain the modification detail and
    ask for explicit user confirmation (yes/no) to proceed.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
        address1: The first line of the address, such as '123 Main St'.
        address2: The second line of the address, such as 'Apt 1' or ''.
        city: The city, such as 'San Francisco'.
        state: The state, such as 'CA'.
        country: The country, such as 'USA'.
        zip: The zip code, such as '12345'.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        user = get_user(session, ctx.tenant_id, user_id)
        claim(session, user)
        set_address(user.address, address1, address2, city, state, country, zip)
        session.flush()
        return user_to_model(user)


@tool(writes=True, owner=order_owner)
def return_delivered_order_items(
    order_id: str, item_ids: list[str], payment_method_id: str, ctx: ToolContext
) -> dict[str, Any]:
    """Return some items of a delivered order. The order status will be changed to
    'return requested'. The agent needs to explain the return detail and ask for explicit user
    confirmation (yes/no) to proceed. The user will receive follow-up email for how and where to
    return the item.

    Args:
        order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the
            beginning of the order id.
        item_ids: The item ids to be returned, each such as '1008292230'. There could be duplicate
            items in the list.
        payment_method_id: The payment method id to pay or be refunded the price difference, such
            as 'gift_card_0000000' or 'credit_card_0000000'. These can be looked up from the user
            or order details.
    """
    with get_store(ctx).transaction(ctx.tenant_id) as session:
        order = get_order(session, ctx.tenant_id, order_id)
        if order.status != "delivered":
            raise ToolError("Non-delivered order cannot be returned")
        method = get_payment_method(session, order.tenant_id, order.user_id, payment_method_id)
        original = order.payment_history[0].payment_method_id if order.payment_history else None
        if not method.is_gift_card and payment_method_id != original:
            raise ToolError("Payment method should be the original payment method")
        check_counts(item_ids, order, "Some item not found")
        claim(session, order)
        order.status = "return requested"
        order.return_items = sorted(item_ids)
        order.return_payment_method_id = payment_method_id
        session.flush()
        return order_to_model(order)


# The order tau2's tools_summary.json lists them in (alphabetical), which the model sees.
TOOLS: tuple[ToolSpec, ...] = (
    calculate,
    cancel_pending_order,
    exchange_delivered_order_items,
    find_user_id_by_name_zip,
    find_user_id_by_email,
    get_order_details,
    get_product_details,
    get_item_details,
    get_user_details,
    list_all_product_types,
    modify_pending_order_address,
    modify_pending_order_items,
    modify_pending_order_payment,
    modify_user_address,
    return_delivered_order_items,
    transfer_to_human_agents,
)
TOOLS_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in TOOLS}
