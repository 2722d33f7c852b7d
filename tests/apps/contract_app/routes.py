"""The app's endpoints, mounted by the platform at ``/v1/apps/contract_app``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from moesaic.apps import AppContextDep, TenantIdDep
from tests.apps.contract_app.notes import add_note, list_notes

router = APIRouter(tags=["contract_app"])


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


@router.post("/notes", status_code=201)
def create_note(body: NoteIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> dict[str, Any]:
    return add_note(ctx.db, tenant_id, body.text)


@router.get("/notes")
def get_notes(ctx: AppContextDep, tenant_id: TenantIdDep) -> dict[str, Any]:
    return {"data": list_notes(ctx.db, tenant_id), "setup_ran": bool(ctx.services.get("setup_ran"))}
