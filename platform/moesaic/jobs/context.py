"""What a job handler sees (``JobContext``), what callers see (``JobInfo``) and how a handler says
"give up" or "try later" (``FailJob``, ``RetryJob``).

The idempotency rule every handler follows (delivery is at least once):

* an effect in the platform database is written inside ``with ctx.complete(result) as session:``;
  the queue marks the job succeeded in that same transaction, and only while this delivery still
  holds the job's lease, so the effect commits exactly once or not at all;
* an effect anywhere else (a vector store, another service) is keyed by ``ctx.job_id`` (or by ids
  derived from the payload) and written as an upsert, so a second delivery overwrites instead of
  adding.

This module holds no queue logic; ``queue.JobQueue`` builds contexts and settles their outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from moesaic.jobs.tables import JobRecord


def aware_or_none(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


class JobError(Exception):
    """Base of the exceptions a handler raises to steer its job."""


class FailJob(JobError):
    """The job cannot succeed (bad payload, unreadable input): fail it now, no retry."""


class RetryJob(JobError):
    """Try again after ``delay_seconds`` (counts as an attempt; fails once attempts run out)."""

    def __init__(self, message: str, *, delay_seconds: float | None = None) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class ReleaseJob(JobError):
    """The handler stops because its worker is shutting down: requeue now, attempt not counted."""


class LeaseLost(JobError):
    """This delivery no longer holds the job (cancelled, or taken over after its lease ran out)."""


@dataclass
class JobContext:
    """One delivery of one job, handed to its handler."""

    job_id: str
    tenant_id: str
    app: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    lease_owner: str  # unique per delivery; effects keyed by it can tell deliveries apart
    app_context: Any = None
    _progress: Callable[["JobContext", int, int | None], None] | None = None
    _complete: Callable[["JobContext", Any], AbstractContextManager[Session]] | None = None
    _lost: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    completed: bool = False

    @property
    def name(self) -> str:
        return f"{self.app}.{self.kind}"

    @property
    def is_cancelled(self) -> bool:
        """True once the job was cancelled or taken over: stop and return (nothing will be kept)."""
        return self._lost.is_set()

    @property
    def is_stopping(self) -> bool:
        """True while this worker shuts down: a long handler may raise ``ReleaseJob`` to hand back."""
        return self._stopping.is_set()

    def progress(self, done: int, total: int | None = None) -> None:
        """Record progress (and renew the lease); raises ``LeaseLost`` if the job is no longer ours."""
        if self._lost.is_set():
            raise LeaseLost(self.job_id)
        assert self._progress is not None, "context not bound to a queue"
        self._progress(self, done, total)

    def complete(self, result: Any = None) -> AbstractContextManager[Session]:
        """A session whose commit also marks the job succeeded with ``result``.

        Write the job's database effect in it: both commit together, or neither (``LeaseLost`` is
        raised on exit and the session rolls back when this delivery lost the job meanwhile)."""
        assert self._complete is not None, "context not bound to a queue"
        return self._complete(self, result)


CORE_APP = "platform"  # the app name of the core's own jobs (ingestion): every key of the tenant sees them


@dataclass(frozen=True)
class JobInfo:
    """A job as the API shows it."""

    id: str
    tenant_id: str
    app: str
    kind: str
    state: str
    progress_done: int
    progress_total: int | None
    payload: dict[str, Any]
    result: Any
    error: str | None
    attempts: int
    max_attempts: int
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None

    @classmethod
    def from_record(cls, record: "JobRecord") -> "JobInfo":
        return cls(
            id=record.id,
            tenant_id=record.tenant_id,
            app=record.app,
            kind=record.kind,
            state=record.state,
            progress_done=record.progress_done,
            progress_total=record.progress_total,
            payload=dict(record.payload or {}),
            result=record.result,
            error=record.error,
            attempts=record.attempts,
            max_attempts=record.max_attempts,
            created_at=aware_or_none(record.created_at),
            started_at=aware_or_none(record.started_at),
            finished_at=aware_or_none(record.finished_at),
            next_attempt_at=aware_or_none(record.next_attempt_at),
        )

    @property
    def is_done(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "object": "job",
            "app": self.app,
            "kind": self.kind,
            "state": self.state,
            "progress": {"done": self.progress_done, "total": self.progress_total},
            "payload": self.payload,
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "next_attempt_at": iso(self.next_attempt_at) if self.state == "queued" else None,
        }
