"""What the routes, the command, the job and the evaluation share: add, list and count a tenant's notes.

Every function filters on or writes ``tenant_id``; none of them commits on its own except ``add_note``
(``write_notes`` writes into the caller's session, so a job can commit it with its own success)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from moesaic.apps import Erasure
from moesaic.db import Database
from tests.apps.contract_app.tables import Note


def write_notes(session: Session, tenant_id: str, texts: Sequence[str]) -> list[dict[str, str]]:
    """Add one note per text in ``session`` (the caller commits)."""
    notes = [Note(tenant_id=tenant_id, text=text) for text in texts]
    session.add_all(notes)
    session.flush()
    return [{"id": note.id, "text": note.text} for note in notes]


def add_note(db: Database, tenant_id: str, text: str) -> dict[str, str]:
    """Add one note in a transaction of its own."""
    with db.session() as session:
        return write_notes(session, tenant_id, [text])[0]


def list_notes(db: Database, tenant_id: str) -> list[dict[str, str]]:
    with db.session() as session:
        rows = session.scalars(select(Note).where(Note.tenant_id == tenant_id).order_by(Note.created_at, Note.id))
        return [{"id": row.id, "text": row.text} for row in rows]


def count_notes(db: Database, tenant_id: str) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count(Note.id)).where(Note.tenant_id == tenant_id)) or 0)


def delete_notes(db: Database, tenant_id: str) -> int:
    """Delete every note of the tenant; returns how many there were."""
    with db.session() as session:
        return int(session.execute(delete(Note).where(Note.tenant_id == tenant_id)).rowcount or 0)


def erase_notes(ctx: Any, erasure: Erasure) -> dict[str, int]:
    """The app's ``erase`` hook: notes that name the data subject (this app keeps nothing per conversation)."""
    needles = [n for n in (erasure.email, erasure.customer_id) if n]
    if not needles:
        return {}
    with ctx.db.session() as session:
        result = session.execute(delete(Note).where(Note.tenant_id == erasure.tenant_id,
                                                    or_(*(Note.text.contains(n) for n in needles))))
        return {Note.__tablename__: int(result.rowcount or 0)}
