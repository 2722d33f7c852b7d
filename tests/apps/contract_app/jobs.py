"""The app's job ``add_note``: run by ``moesaic worker`` from the queue key ``contract_app.add_note``.

Delivery is at least once, so the handler is idempotent: the payload carries the note's id."""

from __future__ import annotations

from typing import Any

from tests.apps.contract_app.notes import add_note


def add_note_job(job: Any) -> dict[str, str]:
    """``job`` is a ``moesaic.jobs.JobContext``: tenant_id, payload, progress(done, total), app_context."""
    note = add_note(job.app_context.db, job.tenant_id, job.payload["text"], note_id=job.payload["note_id"])
    job.progress(1, 1)
    return note
