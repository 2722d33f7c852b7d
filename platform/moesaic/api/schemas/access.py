"""Bodies of the access routes: API keys, console accounts, sign-in sessions, ``/v1/me`` and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from moesaic.json_numbers import NotBoolean


class KeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)
    role: Literal["viewer", "operator", "admin"] = "operator"
    apps: list[str] | None = Field(default=None, description="Limit the key to these apps (null: every app).")
    expires_in_days: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=3650)


class KeyRotate(BaseModel):
    grace_seconds: Annotated[int, NotBoolean] = Field(default=0, ge=0, le=30 * 86400, description="How long the old key keeps working.")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    role: str
    apps: list[str] | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret, shown only in this response.")


class KeyList(BaseModel):
    data: list[KeyOut]


class AccountCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=200)
    display_name: str = Field(default="", max_length=200)
    role: Literal["viewer", "operator", "admin"] = "operator"
    apps: list[str] | None = None


class AccountOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    apps: list[str] | None
    disabled: bool
    created_at: str


class AccountList(BaseModel):
    data: list[AccountOut]


class SessionCreate(BaseModel):
    tenant: str = Field(default="default", min_length=1, max_length=200)
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    key: str = Field(description="A bearer key for this session.")
    expires_at: str
    account: AccountOut


class PrincipalOut(BaseModel):
    id: str
    kind: str
    name: str
    role: str
    apps: list[str] | None
    tenant_id: str


class AuditPrincipal(BaseModel):
    id: str
    kind: str
    name: str


class AuditEntryOut(BaseModel):
    id: int
    at: str
    principal: AuditPrincipal
    app: str | None
    action: str
    target: str
    status: int
    detail: dict[str, Any]


class AuditList(BaseModel):
    data: list[AuditEntryOut]
