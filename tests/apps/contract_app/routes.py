"""The app's endpoints, mounted by the platform at ``/v1/apps/contract_app``.

Every route is owned by the app (the mount declares ``app="const:contract_app"``), so the gate has
checked the caller's key before the code runs; a route only raises the role it needs with
``openapi_extra=access(role=...)`` (the default: ``viewer`` for GET, ``operator`` otherwise). Every
route answers a typed pydantic model, the API's OpenAPI contract."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from moesaic.access import access
from moesaic.apps import AppContextDep, TenantIdDep
from tests.apps.contract_app.jobs import ADD_NOTES
from tests.apps.contract_app.notes import add_note, delete_notes, list_notes

APP_NAME = "contract_app"
router = APIRouter(tags=[APP_NAME])


NoteText = Annotated[str, Field(min_length=1, max_length=500)]


class NoteIn(BaseModel):
    text: NoteText


class NotesIn(BaseModel):
    texts: list[NoteText] = Field(min_length=1, max_length=100)


class NoteOut(BaseModel):
    id: str
    text: str


class NoteList(BaseModel):
    data: list[NoteOut]
    setup_ran: bool


class JobAccepted(BaseModel):
    """A job the route queued: follow it at ``GET /v1/jobs/{job_id}``."""

    job_id: str
    state: str


class NotesDeleted(BaseModel):
    deleted: int


@router.post("/notes", status_code=201)
def create_note(body: NoteIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> NoteOut:
    return NoteOut(**add_note(ctx.db, tenant_id, body.text))


@router.post("/notes:bulk", status_code=202)
def create_notes_in_background(body: NotesIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> JobAccepted:
    """Queue the job ``add_notes``; the notes appear once it succeeds."""
    job = ctx.jobs.enqueue(tenant_id, APP_NAME, ADD_NOTES, {"texts": body.texts})
    return JobAccepted(job_id=job.id, state=job.state)


@router.get("/notes")
def get_notes(ctx: AppContextDep, tenant_id: TenantIdDep) -> NoteList:
    return NoteList(data=[NoteOut(**note) for note in list_notes(ctx.db, tenant_id)],
                    setup_ran=bool(ctx.services.get("setup_ran")))


@router.delete("/notes", openapi_extra=access(role="admin"))
def delete_all_notes(ctx: AppContextDep, tenant_id: TenantIdDep) -> NotesDeleted:
    """Delete every note of the tenant: admins only."""
    return NotesDeleted(deleted=delete_notes(ctx.db, tenant_id))
