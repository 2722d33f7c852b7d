"""What the routes, the command, the job and the evaluation share: add and list a tenant's notes."""

from __future__ import annotations

from sqlalchemy import func, select

from moesaic.db import Database
from tests.apps.contract_app.tables import Note


def add_note(db: Database, tenant_id: str, text: str, note_id: str | None = None) -> dict[str, str]:
    """Add a note; with ``note_id``, adding it again changes nothing (a job may run twice)."""
    with db.session() as session:
        existing = session.get(Note, note_id) if note_id else None
        if existing is not None and existing.tenant_id == tenant_id:
            return {"id": existing.id, "text": existing.text}
        note = Note(tenant_id=tenant_id, text=text, **({"id": note_id} if note_id else {}))
        session.add(note)
        session.flush()
        return {"id": note.id, "text": note.text}


def list_notes(db: Database, tenant_id: str) -> list[dict[str, str]]:
    with db.session() as session:
        rows = session.scalars(select(Note).where(Note.tenant_id == tenant_id).order_by(Note.created_at, Note.id))
        return [{"id": row.id, "text": row.text} for row in rows]


def count_notes(db: Database, tenant_id: str) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count(Note.id)).where(Note.tenant_id == tenant_id)) or 0)
