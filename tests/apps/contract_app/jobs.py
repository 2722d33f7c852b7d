"""The app's job ``add_notes``: adds a batch of notes in the background (queue key ``contract_app.add_notes``).

Enqueued by ``POST /v1/apps/contract_app/notes:bulk`` through ``ctx.jobs.enqueue(...)`` and run by
``moesaic worker`` (or the API's embedded consumer). Delivery is at least once, so the notes are
written inside ``with job.complete(result) as session:``: they commit in the same transaction that
marks the job succeeded, and only while this delivery still holds the job, so a second delivery of
the same job (a redelivered message, a worker killed after the commit) adds nothing.
"""

from __future__ import annotations

import os

from moesaic.jobs import FailJob, JobContext
from tests.apps.contract_app.notes import write_notes

ADD_NOTES = "add_notes"


def add_notes_job(job: JobContext) -> None:
    """Payload ``{"texts": [...]}``; result ``{"added": n, "worker_pid": pid}``.

    ``worker_pid`` says which process ran it (the two-worker test reads it)."""
    texts = job.payload.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) and t for t in texts):
        raise FailJob("payload 'texts' must be a list of non-empty strings")  # no retry would fix it
    job.progress(0, len(texts))
    with job.complete({"added": len(texts), "worker_pid": os.getpid()}) as session:
        write_notes(session, job.tenant_id, texts)
