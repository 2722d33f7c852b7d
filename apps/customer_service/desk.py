"""The operator desk's side of customer_service: who the customer of a conversation is, and the store's
tools run by a person (an operator at the desk, or the console's returns and exchanges form).

An operator's tool run obeys the same rules as the bot's: the conversation's identity (``moesaic.identity``)
must be there for a customer's records and must own the order or account named; a lookup by email or name
and zip code authenticates the conversation. A write is only described until the caller confirms it; the
confirmed run is audited under the operator's principal (with the reason given) and appended to the
conversation, under the operator's name, so the customer sees what was done. Failures raise the platform's
user errors (the API turns them into 4xx naming the field); this module knows nothing of HTTP.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from apps.customer_service.export import order_to_model, user_to_model, variant_record
from apps.customer_service.lookups import get_store
from apps.customer_service.prompts import IDENTITY_POLICY
from apps.customer_service.render import payment_method_text
from apps.customer_service.store import Order, Product, User
from apps.customer_service.tools import TOOLS_BY_NAME
from moesaic.access import Principal, record
from moesaic.apps import AppContext, ToolContext
from moesaic.errors import Conflict, Forbidden, NotFound, ToolError, UserError
from moesaic.identity import METADATA_KEY as IDENTITY_KEY, Identity, identity_refusal
from moesaic.memory import ConversationInfo, ConversationStore
from moesaic.tools import run_tool_call
from moesaic.types import Message, ToolCall

APP_NAME = "customer_service"
LOOKUP_TOOLS = ("find_user_id_by_email", "find_user_id_by_name_zip", "get_order_details", "get_user_details",
                "get_product_details", "get_item_details")
WRITE_TOOLS = ("cancel_pending_order", "modify_pending_order_address", "modify_user_address",
               "modify_pending_order_payment", "modify_pending_order_items", "return_delivered_order_items",
               "exchange_delivered_order_items")
OPERATOR_TOOLS = LOOKUP_TOOLS + WRITE_TOOLS


def conversation_of(ctx: AppContext, tenant_id: str, conversation_id: str) -> ConversationInfo:
    """The customer_service conversation ``conversation_id`` of the tenant (404 for any other app's)."""
    conversation = ConversationStore(ctx.db).get(tenant_id, conversation_id)
    if conversation.app != APP_NAME:
        raise NotFound(f"conversation {conversation_id!r} is not a customer_service conversation", field="conversation_id")
    return conversation


# ---------------------------------------------------------------- the customer beside the conversation


def customer_view(ctx: AppContext, tenant_id: str, conversation: ConversationInfo) -> dict[str, Any]:
    """The conversation's identity, the customer's account and orders (newest first), and for delivered orders
    the items each one could be exchanged for (available variants of the same product)."""
    identity = Identity.from_metadata(conversation.metadata)
    view: dict[str, Any] = {"conversation_id": conversation.id, "identity": identity.to_dict() if identity else None,
                            "user": None, "orders": []}
    if identity is None:
        return view
    with get_store(_tool_context(ctx, tenant_id, conversation, None)).transaction(tenant_id) as session:
        user = session.get(User, {"tenant_id": tenant_id, "user_id": identity.subject})
        if user is None:
            return view
        view["user"] = user_to_model(user)
        orders = session.scalars(select(Order).where(Order.tenant_id == tenant_id, Order.user_id == user.user_id)
                                 .order_by(Order.position.desc())).all()
        for order in orders:
            model = order_to_model(order)
            if order.status == "delivered":
                model["exchange_options"] = _exchange_options(session, tenant_id, order)
            view["orders"].append(model)
    return view


def _exchange_options(session: Any, tenant_id: str, order: Order) -> dict[str, list[dict[str, Any]]]:
    options: dict[str, list[dict[str, Any]]] = {}
    for item in order.items:
        product = session.get(Product, {"tenant_id": tenant_id, "product_id": item.product_id})
        variants = product.variants if product is not None else []
        options[item.item_id] = [variant_record(v) for v in variants if v.available and v.item_id != item.item_id]
    return options


# ---------------------------------------------------------------- running a tool for the customer


@dataclass(frozen=True)
class ToolRun:
    """What a desk tool run did: ``status`` is "needs_confirmation" (a write described, not run) or "done"."""

    status: Literal["needs_confirmation", "done"]
    tool: str
    arguments: dict[str, Any]
    summary: str
    output: Any = None
    message_id: str | None = None
    customer: str | None = None


def run_for_customer(
    ctx: AppContext, principal: Principal, conversation: ConversationInfo, tool: str, arguments: dict[str, Any],
    *, confirm: bool, reason: str = "",
) -> ToolRun:
    """Run ``tool`` for the conversation's customer as ``principal``; a write runs only with ``confirm``."""
    spec = TOOLS_BY_NAME.get(tool)
    if spec is None or tool not in OPERATOR_TOOLS:
        raise UserError(f"tool {tool!r} cannot be run from the desk; valid tools: {', '.join(OPERATOR_TOOLS)}", field="tool")
    try:
        parsed = spec.parse_arguments(arguments)
    except ToolError as exc:
        raise UserError(str(exc), field="arguments") from None
    tenant_id = principal.tenant_id
    tool_ctx = _tool_context(ctx, tenant_id, conversation, principal)
    refusal = identity_refusal(spec, parsed, tool_ctx, IDENTITY_POLICY)
    if refusal == IDENTITY_POLICY.required:
        raise Conflict(f"{refusal} (the conversation has no authenticated customer: look them up by email, "
                       "or by name and zip code, first)", field="conversation_id")
    if refusal is not None:
        raise Forbidden(refusal, field="arguments")
    summary = describe(tool, parsed, reason)
    if tool in WRITE_TOOLS and not confirm:
        return ToolRun("needs_confirmation", tool, parsed, summary, customer=_subject(tool_ctx.identity))
    call = ToolCall(id=f"desk_{uuid.uuid4().hex[:16]}", name=tool, arguments=json.dumps(parsed))
    before = tool_ctx.identity
    result = run_tool_call(spec, call, {"ctx": tool_ctx})
    detail = {"conversation_id": conversation.id, "call_id": call.id, "arguments": parsed, "reason": reason,
              "error": result.error}
    if result.error is None and tool_ctx.identity != before:  # a lookup authenticated the conversation
        if before is not None:
            _audit(ctx, principal, tool, conversation.id, 409, detail)
            raise Conflict(IDENTITY_POLICY.other_subject, field="arguments")
        assert tool_ctx.identity is not None, "an identity change sets an identity"
        ConversationStore(ctx.db).update_metadata(tenant_id, conversation.id, **{IDENTITY_KEY: tool_ctx.identity.to_dict()})
    _audit(ctx, principal, tool, conversation.id, 409 if result.error else 200, detail)
    if result.error is not None:
        raise Conflict(f"the store refused: {result.error}", field="arguments")
    message_id = _tell_customer(ctx, principal, conversation, call, result.output, summary) if tool in WRITE_TOOLS else None
    return ToolRun("done", tool, parsed, summary, result.value, message_id, _subject(tool_ctx.identity))


def _subject(identity: Identity | None) -> str | None:
    return identity.subject if identity else None


def _tool_context(ctx: AppContext, tenant_id: str, conversation: ConversationInfo, principal: Principal | None) -> ToolContext:
    return ToolContext(tenant_id=tenant_id, conversation_id=conversation.id, app=APP_NAME, db=ctx.db,
                       settings=ctx.settings, services=ctx.services, principal=principal,
                       identity=Identity.from_metadata(conversation.metadata))


def _audit(ctx: AppContext, principal: Principal, tool: str, conversation_id: str, status: int, detail: dict[str, Any]) -> None:
    record(ctx.db, principal, f"desk tool {tool}", app=APP_NAME, target=conversation_id, status=status, detail=detail)


def _tell_customer(ctx: AppContext, principal: Principal, conversation: ConversationInfo, call: ToolCall, output: str,
                   summary: str) -> str:
    """The run, in the conversation: the operator's call (with what was done, in words) and the tool's output."""
    store = ConversationStore(ctx.db)
    name = principal.label[:100]
    said = store.append(principal.tenant_id, conversation.id,
                        Message(role="assistant", content=f"Done by {name} from our team: {summary}.", tool_calls=(call,),
                                name=name), author="operator")
    store.record_tool_call(principal.tenant_id, conversation.id, call, output, None, 0.0)
    store.append(principal.tenant_id, conversation.id, Message(role="tool", content=output, tool_call_id=call.id, name=call.name))
    return str(said["id"])


def describe(tool: str, arguments: dict[str, Any], reason: str = "") -> str:
    """The action in words, as the operator confirms it and the customer reads it."""
    order = arguments.get("order_id", "")
    items = ", ".join(arguments.get("item_ids") or [])
    method = payment_method_text(arguments["payment_method_id"]) if arguments.get("payment_method_id") else ""
    because = f" (reason: {reason})" if reason else ""
    if tool == "cancel_pending_order":
        return f"cancel order {order} with the reason '{arguments['reason']}'; the payment is refunded"
    if tool in ("modify_pending_order_address", "modify_user_address"):
        where = ", ".join(str(arguments[k]) for k in ("address1", "address2", "city", "state", "zip", "country") if arguments.get(k))
        whose = f"the shipping address of order {order}" if order else f"the default address of account {arguments['user_id']}"
        return f"change {whose} to {where}"
    if tool == "modify_pending_order_payment":
        return f"pay order {order} with {method} instead; the first payment is refunded"
    if tool == "modify_pending_order_items":
        return f"change items {items} of order {order} to {', '.join(arguments['new_item_ids'])}; the difference is settled with {method}"
    if tool == "return_delivered_order_items":
        return f"return items {items} of order {order}{because}; the refund goes to {method}"
    if tool == "exchange_delivered_order_items":
        new = ", ".join(arguments["new_item_ids"])
        return f"exchange items {items} of order {order} for {new}{because}; the price difference is settled with {method}"
    shown = ", ".join(f"{k}={v}" for k, v in arguments.items())
    return f"look up {tool.removeprefix('get_').removeprefix('find_').replace('_', ' ')} ({shown})"
