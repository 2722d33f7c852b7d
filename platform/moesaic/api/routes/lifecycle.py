"""Data lifecycle: erase a conversation, a data subject or the whole tenant; export the tenant's data;
retention policies. Erasures remove the data everywhere it lives and leave one audit row (``moesaic.lifecycle``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.errors import Forbidden, UserError
from moesaic.lifecycle import Lifecycle, RetentionIn

router = APIRouter(tags=["data lifecycle"])
# Whitespace spelled out: ``\s`` means more characters in Python and Rust (U+0085, U+001C-U+001F) than in the
# ECMA regex of the OpenAPI schema, and the two must accept the same strings.
EMAIL_PATTERN = r"^[^@ \t\n\r\f\v\x00]+@[^@ \t\n\r\f\v\x00]+$"


class ErasureOut(BaseModel):
    object: str = "erasure"
    removed: dict[str, int] = Field(description="Rows (and vector collections) removed, per kind.")


class SubjectIn(BaseModel):
    """One of ``email`` and ``customer_id`` (or both)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
        {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
    ]})
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL_PATTERN,
                              description="The data subject's email address.")
    customer_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]+$",
                                    description="The data subject's customer id in the apps' data.")


class TenantErasureIn(BaseModel):
    confirm: str = Field(min_length=1, max_length=32, description="The tenant's id, to confirm.")


class RetentionOut(BaseModel):
    app: str = Field(description="'' for the tenant-wide policy.")
    conversation_days: int | None
    job_days: int | None


class RetentionList(BaseModel):
    data: list[RetentionOut]


def _whole_tenant(principal: Any) -> None:
    if principal.apps is not None:
        raise Forbidden("only a key or account that may use every app can do this to the whole tenant", field="role")


@router.delete("/v1/conversations/{conversation_id}", openapi_extra=access(conversation="path:conversation_id"))
def erase_conversation(conversation_id: str, platform: PlatformDep, principal: PrincipalDep) -> ErasureOut:
    """Erase the conversation everywhere: messages, tool calls, idempotency records and the app's own rows."""
    return ErasureOut(removed=Lifecycle(platform).erase_conversations(principal.tenant_id, [conversation_id], principal))


@router.post("/v1/data-subjects/erase", openapi_extra=access(role="admin"), responses=error_responses(400, 409))
def erase_data_subject(body: SubjectIn, platform: PlatformDep, principal: PrincipalDep) -> ErasureOut:
    """Erase one person's data (by email or customer id): conversations that mention them, finished jobs about
    them, and every app's rows of them (400 when neither is given; 409 when an app's running job still writes
    data that may name them: retry when it has finished)."""
    _whole_tenant(principal)
    if body.email is None and body.customer_id is None:
        raise UserError("name the data subject: 'email' or 'customer_id'", field="email")
    removed = Lifecycle(platform).erase_subject(principal.tenant_id, principal, email=body.email, customer_id=body.customer_id)
    return ErasureOut(removed=removed)


@router.post("/v1/tenant/erase", openapi_extra=access(role="admin"), responses=error_responses(400))
def erase_tenant(body: TenantErasureIn, platform: PlatformDep, principal: PrincipalDep) -> ErasureOut:
    """Erase the caller's whole tenant: every row, vector, key and account (this key stops working). Send the
    tenant's id as ``confirm`` (400 otherwise). One audit row records what was removed."""
    _whole_tenant(principal)
    if body.confirm != principal.tenant_id:
        raise UserError("'confirm' must be this tenant's id", field="confirm")
    return ErasureOut(removed=Lifecycle(platform).erase_tenant(principal.tenant_id, principal))


class TenantExport(BaseModel):
    """Everything stored for a tenant. Rows are their columns by name; uploads appear as their extracted
    ``text``; keys and accounts without their secrets."""

    tenant: dict[str, Any]
    exported_at: str
    conversations: list[dict[str, Any]] = Field(description="Each with its `messages` and `tool_calls`.")
    knowledge_bases: list[dict[str, Any]] = Field(description="Each with its `documents`.")
    jobs: list[dict[str, Any]]
    model_versions: list[dict[str, Any]]
    retention_policies: list[dict[str, Any]]
    pinned_answers: list[dict[str, Any]] = Field(default_factory=list, description="Operators' pinned answers "
                                                 "(cached answers are copies of stored messages and are not repeated).")
    api_keys: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    apps: dict[str, dict[str, list[dict[str, Any]]]] = Field(description="app -> table -> rows.")


@router.get("/v1/tenant/export", openapi_extra=access(role="admin"))
def export_tenant(platform: PlatformDep, principal: PrincipalDep) -> TenantExport:
    """The tenant's data: conversations with messages and tool calls, knowledge bases with documents' text,
    jobs, model versions, keys and accounts (no secrets), retention, audit, and every app's tables."""
    _whole_tenant(principal)
    return TenantExport(**Lifecycle(platform).export_tenant(principal.tenant_id))


@router.get("/v1/retention", openapi_extra=access(role="admin"))
def list_retention(platform: PlatformDep, principal: PrincipalDep) -> RetentionList:
    return RetentionList(data=[RetentionOut(**row) for row in Lifecycle(platform).retention(principal.tenant_id)])


@router.put("/v1/retention", openapi_extra=access(role="admin"), responses=error_responses(404))
def set_retention(body: RetentionIn, platform: PlatformDep, principal: PrincipalDep) -> RetentionOut:
    """Set the tenant's retention for all apps (``app`` null) or one app: conversations not updated for
    ``conversation_days`` and finished jobs older than ``job_days`` are erased (hourly, by the job worker).
    404: an unknown ``app``."""
    _whole_tenant(principal)
    return RetentionOut(**Lifecycle(platform).set_retention(principal.tenant_id, body, principal))
