"""customer_service's endpoints for the operator desk, mounted by the platform at ``/v1/apps/customer_service``.

- ``GET /desk/conversations/{conversation_id}/customer``: the conversation's customer, account and orders
  (viewer);
- ``POST /desk/conversations/{conversation_id}/tool-runs``: run one of the store's tools for that customer
  (operator). A write answers ``needs_confirmation`` with the action in words until it is sent again with
  ``"confirm": true``; then it runs, is audited under the caller and shows in the conversation.

The gate has checked the key, its role and that the conversation is in the caller's tenant and of an app
the key may use; ``desk`` applies the identity and ownership rules. Logic lives in ``desk``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from apps.customer_service.desk import OPERATOR_TOOLS, conversation_of, customer_view, run_for_customer
from moesaic.access import Principal, access
from moesaic.apps import AppContextDep, TenantIdDep, error_responses

router = APIRouter(tags=["customer_service"])
RUN_ERRORS = error_responses(400, 403, 409)
RUN_ERRORS[400]["description"] = "The arguments do not fit the tool (`param` is 'arguments')."
RUN_ERRORS[403]["description"] = "The role is too low, or the order or account named is not the customer's."
RUN_ERRORS[409]["description"] = ("The conversation has no authenticated customer, is already someone else's, or the "
                                  "store refused the action (the message says why; nothing changed).")
OperatorTool = Literal[OPERATOR_TOOLS]  # type: ignore[valid-type]


class IdentityOut(BaseModel):
    subject: str = Field(description="The customer's user id.")
    method: str = Field(description="How they were found: 'email' or 'name_zip'.")
    verified_at: str


class CustomerOut(BaseModel):
    """Who the customer of a conversation is, with their account and orders (null/empty before authentication)."""

    conversation_id: str
    identity: IdentityOut | None
    user: dict[str, Any] | None = Field(description="The account as get_user_details returns it.")
    orders: list[dict[str, Any]] = Field(description="The customer's orders, newest first, as get_order_details returns "
                                         "them; delivered ones add `exchange_options`: item id -> available variants.")


class ToolRunIn(BaseModel):
    tool: OperatorTool = Field(description="The store's tool to run.")  # type: ignore[valid-type]
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments, as the model would send them.")
    confirm: bool = Field(default=False, description="Run a write; without it a write is only described.")
    reason: str = Field(default="", max_length=300, description="Why (a return's or exchange's reason), kept in the audit log.")


class ToolRunOut(BaseModel):
    status: Literal["needs_confirmation", "done"]
    tool: str
    arguments: dict[str, Any]
    summary: str = Field(description="The action in words: confirm this, or what was done.")
    output: Any = Field(default=None, description="The tool's result (the record it read or changed).")
    message_id: str | None = Field(default=None, description="The conversation message that tells the customer.")
    customer: str | None = Field(default=None, description="The conversation's authenticated customer after the run.")


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


@router.get("/desk/conversations/{conversation_id}/customer",
            openapi_extra=access(conversation="path:conversation_id"))
def get_customer(conversation_id: str, ctx: AppContextDep, tenant_id: TenantIdDep) -> CustomerOut:
    """The customer of a customer_service conversation, their account and their orders."""
    conversation = conversation_of(ctx, tenant_id, conversation_id)
    return CustomerOut.model_validate(customer_view(ctx, tenant_id, conversation))


@router.post(
    "/desk/conversations/{conversation_id}/tool-runs",
    openapi_extra=access(conversation="path:conversation_id", role="operator"),
    responses=RUN_ERRORS,
)
def run_tool(conversation_id: str, body: ToolRunIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> ToolRunOut:
    """Run a store tool for the conversation's customer; writes need ``confirm`` (see the module's docstring)."""
    conversation = conversation_of(ctx, tenant_id, conversation_id)
    run = run_for_customer(ctx, _principal(request), conversation, body.tool, body.arguments, confirm=body.confirm,
                           reason=body.reason)
    return ToolRunOut(status=run.status, tool=run.tool, arguments=run.arguments, summary=run.summary, output=run.output,
                      message_id=run.message_id, customer=run.customer)
