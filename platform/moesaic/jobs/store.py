"""State transitions of job rows, each one conditional UPDATE so concurrent workers cannot collide.

A job moves ``queued -> running`` when a delivery claims it (taking a lease: an owner token unique to
that delivery and an expiry), and from ``running`` to ``succeeded``, ``failed``, back to ``queued``
(a retry) or to ``cancelled``. Every move out of ``running`` names the owner token, so a delivery that
lost its lease (cancelled, or reaped after its worker went silent) can change nothing any more.

This module does not talk to the broker or run handlers (``queue`` does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound, UserError
from moesaic.jobs.context import JobInfo
from moesaic.jobs.tables import JOB_STATES, JobRecord


MAX_FAIR_TENANTS = 200  # tenants with due jobs compared per fair pick (the longest waiting ones)


@dataclass(frozen=True)
class Claim:
    """A job this delivery now holds."""

    job_id: str
    tenant_id: str
    app: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    lease_owner: str


def as_json(value: Any) -> Any:
    """What a JSON column can hold (unknown objects become their string form)."""
    return json.loads(json.dumps(value, default=str))


class JobStore:
    """The ``jobs`` table: create, read, claim, renew, settle, cancel, reap."""

    def __init__(self, db: Database, lease_seconds: float) -> None:
        self.db = db
        self.lease_seconds = lease_seconds

    def _lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_seconds)

    # -- create and read -----------------------------------------------------------------------
    def create(
        self,
        session: Session,
        tenant_id: str,
        app: str,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None,
        max_attempts: int,
    ) -> tuple[JobRecord, bool]:
        """Add a queued job in ``session``; with a ``dedupe_key`` an existing job is returned instead
        (second value False). A concurrent duplicate raises IntegrityError at flush."""
        if dedupe_key is not None:
            existing = session.scalars(
                select(JobRecord).where(
                    JobRecord.tenant_id == tenant_id,
                    JobRecord.app == app,
                    JobRecord.kind == kind,
                    JobRecord.dedupe_key == dedupe_key,
                )
            ).first()
            if existing is not None:
                return existing, False
        record = JobRecord(
            tenant_id=tenant_id,
            app=app,
            kind=kind,
            dedupe_key=dedupe_key,
            state="queued",
            progress_done=0,
            payload=as_json(payload),
            attempts=0,
            max_attempts=max_attempts,
            next_attempt_at=utcnow(),
        )
        session.add(record)
        session.flush()
        return record, True

    def create_now(self, tenant_id: str, app: str, kind: str, payload: dict[str, Any], *,
                   dedupe_key: str | None, max_attempts: int) -> tuple[JobInfo, bool]:
        """``create`` in a transaction of its own (a lost race on the dedupe key reads the winner)."""
        for _ in range(3):
            try:
                with self.db.session() as session:
                    record, created = self.create(session, tenant_id, app, kind, payload,
                                                  dedupe_key=dedupe_key, max_attempts=max_attempts)
                    return JobInfo.from_record(record), created
            except IntegrityError:
                continue
        raise Conflict(f"job {dedupe_key!r} is being created concurrently; try again")

    def get(self, tenant_id: str, job_id: str) -> JobInfo:
        with self.db.session() as session:
            record = session.get(JobRecord, job_id)
            if record is None or record.tenant_id != tenant_id:
                raise NotFound(f"job {job_id!r} not found", field="job_id")
            return JobInfo.from_record(record)

    def get_any(self, job_id: str) -> JobInfo | None:
        with self.db.session() as session:
            record = session.get(JobRecord, job_id)
            return JobInfo.from_record(record) if record is not None else None

    def find(self, tenant_id: str, *, app: str | None = None, state: str | None = None, limit: int = 50) -> list[JobInfo]:
        if state is not None and state not in JOB_STATES:
            raise UserError(f"unknown job state {state!r}; valid: {', '.join(JOB_STATES)}", field="state")
        query = select(JobRecord).where(JobRecord.tenant_id == tenant_id)
        if app is not None:
            query = query.where(JobRecord.app == app)
        if state is not None:
            query = query.where(JobRecord.state == state)
        with self.db.session() as session:
            records = session.scalars(query.order_by(JobRecord.created_at.desc(), JobRecord.id).limit(limit)).all()
            return [JobInfo.from_record(r) for r in records]

    def mark_enqueued(self, job_id: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(JobRecord).where(JobRecord.id == job_id).values(enqueued_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    # -- one delivery --------------------------------------------------------------------------
    def claim(self, job_id: str, owner: str) -> Claim | None:
        """Take the job if it is queued and due; None if it is not (done, held, cancelled, early)."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.state == "queued", JobRecord.next_attempt_at <= now)
                .values(state="running", lease_owner=owner, lease_expires_at=self._lease_until(),
                        attempts=JobRecord.attempts + 1, started_at=now, error=None)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            record = session.get(JobRecord, job_id)
            assert record is not None, "claimed job vanished"
            return Claim(record.id, record.tenant_id, record.app, record.kind, dict(record.payload or {}),
                         record.attempts, record.max_attempts, owner)

    def due_siblings(self, app: str, kind: str, exclude: str, limit: int, tenant_id: str | None = None) -> list[str]:
        """Ids of other queued, due jobs of the same kind (for handlers that work in batches), of one
        tenant when ``tenant_id`` is given."""
        query = (select(JobRecord.id)
                 .where(JobRecord.app == app, JobRecord.kind == kind, JobRecord.state == "queued",
                        JobRecord.next_attempt_at <= utcnow(), JobRecord.id != exclude))
        if tenant_id is not None:
            query = query.where(JobRecord.tenant_id == tenant_id)
        with self.db.session() as session:
            return list(session.scalars(query.order_by(JobRecord.next_attempt_at).limit(limit)).all())

    def fair_next(self, app: str, kind: str) -> str | None:
        """The due job of this kind to run next, fairly across tenants: the tenant with the fewest such jobs
        running, then the one whose last such job started longest ago (never: first), gets its oldest due job.
        So one tenant's backlog delays another tenant's job by at most the jobs already running."""
        now = utcnow()
        due = and_(JobRecord.app == app, JobRecord.kind == kind, JobRecord.state == "queued", JobRecord.next_attempt_at <= now)
        with self.db.session() as session:
            tenants = list(session.scalars(select(JobRecord.tenant_id).where(due).group_by(JobRecord.tenant_id)
                                           .order_by(func.min(JobRecord.next_attempt_at)).limit(MAX_FAIR_TENANTS)))
            if not tenants:
                return None
            mine = and_(JobRecord.app == app, JobRecord.kind == kind, JobRecord.tenant_id.in_(tenants))
            running = dict(session.execute(select(JobRecord.tenant_id, func.count()).where(mine, JobRecord.state == "running")
                                           .group_by(JobRecord.tenant_id)).all())
            recent = now - timedelta(hours=1)
            started = dict(session.execute(select(JobRecord.tenant_id, func.max(JobRecord.started_at))
                                           .where(mine, JobRecord.started_at >= recent).group_by(JobRecord.tenant_id)).all())
            epoch = datetime(1970, 1, 1)

            def turn(tenant: str) -> tuple[int, datetime]:
                last = started.get(tenant)
                return running.get(tenant, 0), (last.replace(tzinfo=None) if last is not None else epoch)

            tenant = min(tenants, key=turn)  # min is stable: ties go to the tenant waiting longest
            return session.scalar(select(JobRecord.id).where(due, JobRecord.tenant_id == tenant)
                                  .order_by(JobRecord.next_attempt_at).limit(1))

    def renew(self, owners: list[str]) -> set[str]:
        """Extend the leases of these deliveries; returns the owners that still hold their job."""
        if not owners:
            return set()
        held = and_(JobRecord.lease_owner.in_(owners), JobRecord.state == "running")
        with self.db.session() as session:
            session.execute(
                update(JobRecord).where(held).values(lease_expires_at=self._lease_until())
                .execution_options(synchronize_session=False)
            )
            return {owner for owner in session.scalars(select(JobRecord.lease_owner).where(held)) if owner}

    def progress(self, job_id: str, owner: str, done: int, total: int | None) -> bool:
        values: dict[str, Any] = {"progress_done": done, "lease_expires_at": self._lease_until()}
        if total is not None:
            values["progress_total"] = total
        with self.db.session() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.lease_owner == owner, JobRecord.state == "running")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def succeed_in(self, session: Session, job_id: str, owner: str, result: Any) -> bool:
        """Mark succeeded inside the caller's transaction (with the handler's effect)."""
        now = utcnow()
        outcome = session.execute(
            update(JobRecord)
            .where(JobRecord.id == job_id, JobRecord.lease_owner == owner, JobRecord.state == "running")
            .values(state="succeeded", result=as_json(result), error=None, lease_owner=None,
                    lease_expires_at=None, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return outcome.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    @contextmanager
    def succeed_with_effect(self, job_id: str, owner: str, result: Any) -> Iterator[Session]:
        from moesaic.jobs.context import LeaseLost

        with self.db.session() as session:
            yield session
            if not self.succeed_in(session, job_id, owner, result):
                raise LeaseLost(job_id)

    def fail(self, job_id: str, owner: str, error: str) -> bool:
        return self._settle(job_id, owner, state="failed", error=error[:4000], finished_at=utcnow())

    def retry(self, job_id: str, owner: str, error: str, delay_seconds: float) -> bool:
        return self._settle(job_id, owner, state="queued", error=error[:4000],
                            next_attempt_at=utcnow() + timedelta(seconds=delay_seconds))

    def release(self, job_id: str, owner: str) -> bool:
        """Back to the queue at once, the attempt not counted (a clean shutdown)."""
        return self._settle(job_id, owner, state="queued", attempts=JobRecord.attempts - 1, next_attempt_at=utcnow())

    def _settle(self, job_id: str, owner: str, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.lease_owner == owner, JobRecord.state == "running")
                .values(lease_owner=None, lease_expires_at=None, **values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    # -- cancel and reap -----------------------------------------------------------------------
    def cancel(self, tenant_id: str, job_id: str) -> tuple[JobInfo, bool]:
        """Cancel a queued or running job (second value: whether this call cancelled it)."""
        current = self.get(tenant_id, job_id)
        if current.state in ("succeeded", "failed"):
            raise Conflict(f"job {job_id!r} already {current.state}; only queued or running jobs can be cancelled")
        with self.db.session() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.tenant_id == tenant_id,
                       JobRecord.state.in_(("queued", "running")))
                .values(state="cancelled", lease_owner=None, lease_expires_at=None, finished_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            changed = result.rowcount == 1  # type: ignore[attr-defined]
        return self.get(tenant_id, job_id), changed

    def reap_expired(self, limit: int = 100) -> list[str]:
        """Requeue running jobs whose lease ran out (their worker is gone); returns the requeued ids.
        A job that used up its attempts this way fails instead."""
        now = utcnow()
        with self.db.session() as session:
            rows = session.execute(
                select(JobRecord.id, JobRecord.lease_owner, JobRecord.attempts, JobRecord.max_attempts)
                .where(JobRecord.state == "running", JobRecord.lease_expires_at < now)
                .limit(limit)
            ).all()
        requeued = []
        for job_id, owner, attempts, max_attempts in rows:
            if attempts >= max_attempts:
                error = f"the worker running it stopped without finishing, {attempts} times"
                self._settle_expired(job_id, owner, state="failed", error=error, finished_at=utcnow())
            elif self._settle_expired(job_id, owner, state="queued", next_attempt_at=utcnow(),
                                      error="the worker running it stopped; retrying"):
                requeued.append(job_id)
        return requeued

    def _settle_expired(self, job_id: str, owner: str | None, **values: Any) -> bool:
        with self.db.session() as session:
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.lease_owner == owner, JobRecord.state == "running",
                       JobRecord.lease_expires_at < utcnow())
                .values(lease_owner=None, lease_expires_at=None, **values)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def undelivered(self, older_than_seconds: float, limit: int = 100) -> list[str]:
        """Queued, due jobs not sent to the broker for a while (their message was lost)."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(JobRecord.id)
                    .where(JobRecord.state == "queued", JobRecord.next_attempt_at <= cutoff,
                           or_(JobRecord.enqueued_at.is_(None), JobRecord.enqueued_at <= cutoff))
                    .limit(limit)
                ).all()
            )
