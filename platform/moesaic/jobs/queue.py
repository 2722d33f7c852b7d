"""``JobQueue``: enqueue jobs, register handlers by name, and run one delivery of a job.

Huey delivers "run job <id>" messages; the ``jobs`` table decides what runs. A delivery claims the
job (a lease), the handler runs while the worker's heartbeat renews the lease, and the outcome is
settled only if this delivery still holds it. A worker that dies leaves a lease that runs out; the
reaper (``reap``) puts the job back and sends a new message: delivery is at least once, and the
idempotency rule in ``context`` makes the effects exactly once.

Handlers are registered as ``"<app>.<kind>"`` (core jobs use app ``platform``). This module does
not own threads; ``worker.JobWorker`` runs the consumer, heartbeat and reaper.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from moesaic.config import Settings
from moesaic.db import Database, new_id, utcnow
from moesaic.errors import ConfigError
from moesaic.jobs.broker import Broker, create_broker
from moesaic.jobs.context import FailJob, JobContext, JobInfo, LeaseLost, ReleaseJob, RetryJob
from moesaic.jobs.store import Claim, JobStore

log = logging.getLogger(__name__)
Handler = Callable[[JobContext], Any]
BatchHandler = Callable[[list[JobContext]], list[Any]]  # one result or exception per context, in order


@dataclass(frozen=True)
class JobConfig:
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 0.0  # 0: a third of the lease
    reap_seconds: float = 5.0  # how often the reaper looks for jobs whose worker is gone
    # A consumer that dies between taking a message off the broker and claiming its job loses the
    # message. When the broker holds no waiting message, a job that is due, still queued and was sent
    # longer ago than ``lost_message_seconds`` has lost it and is sent again; with a backlog a job is
    # sent again after ``redeliver_after_seconds`` (a duplicate message is harmless: its claim fails).
    lost_message_seconds: float = 5.0
    redeliver_after_seconds: float = 300.0
    poll_seconds: float = 0.5  # how often an idle consumer polls the SQLite broker
    max_attempts: int = 3
    backoff_seconds: float = 2.0  # retry n waits backoff * 2**(n-1)

    @classmethod
    def from_settings(cls, settings: Settings) -> "JobConfig":
        lease = settings.job_lease_seconds
        return cls(lease_seconds=lease, reap_seconds=min(5.0, lease / 3), lost_message_seconds=min(5.0, lease))

    @property
    def heartbeat_interval(self) -> float:
        return self.heartbeat_seconds or self.lease_seconds / 3


@dataclass(frozen=True)
class Registration:
    name: str
    run: BatchHandler
    batch_size: int
    max_attempts: int
    backoff_seconds: float
    on_cancel: Callable[[JobInfo], None] | None
    fair: bool = False  # any message of this kind runs the fairest due job (JobStore.fair_next)


class JobQueue:
    """Jobs of every app on one broker and one ``jobs`` table."""

    def __init__(self, db: Database, broker: Broker, config: JobConfig = JobConfig()) -> None:
        self.db = db
        self.broker = broker
        self.config = config
        self.store = JobStore(db, config.lease_seconds)
        self.app_contexts: dict[str, Any] = {}  # app name -> what its handlers get as ctx.app_context
        self.stopping = threading.Event()
        self._handlers: dict[str, Registration] = {}
        self._inflight: dict[str, JobContext] = {}  # lease owner -> context
        self._lock = threading.Lock()
        self._worker_id = f"{os.getpid()}-{new_id()[:8]}"  # lease owners start with it
        self._deliver = broker.task(name="moesaic_run_job")(self.deliver)
        self._worker: Any = None
        self._chores: list[list[Any]] = []  # [interval_s, function, last run (monotonic)] run by the worker's upkeep

    def add_chore(self, interval_s: float, chore: Callable[[], Any]) -> None:
        """Run ``chore`` every ``interval_s`` seconds from the upkeep thread of a worker of this queue
        (retention, for one); a failure is logged and tried again at the next interval."""
        self._chores.append([interval_s, chore, time.monotonic()])

    def run_chores(self) -> None:
        for chore in self._chores:
            if time.monotonic() - chore[2] >= chore[0]:
                chore[2] = time.monotonic()
                try:
                    chore[1]()
                except Exception:
                    log.exception("periodic chore %s failed", getattr(chore[1], "__name__", chore[1]))

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, config: JobConfig | None = None) -> "JobQueue":
        return cls(db, create_broker(settings), config or JobConfig.from_settings(settings))

    # -- handlers ------------------------------------------------------------------------------
    def register(self, name: str, handler: Handler, *, max_attempts: int | None = None,
                 backoff_seconds: float | None = None, on_cancel: Callable[[JobInfo], None] | None = None) -> None:
        """Run ``handler(ctx)`` for jobs named ``name`` (``"<app>.<kind>"``); its return value is the result."""

        def run_one(contexts: list[JobContext]) -> list[Any]:
            try:
                return [handler(contexts[0])]
            except Exception as exc:  # settled by the queue, never lost
                return [exc]

        self._add(Registration(name, run_one, 1, max_attempts or self.config.max_attempts,
                               self.config.backoff_seconds if backoff_seconds is None else backoff_seconds, on_cancel))

    def register_batch(self, name: str, handler: BatchHandler, *, batch_size: int, max_attempts: int | None = None,
                       backoff_seconds: float | None = None, on_cancel: Callable[[JobInfo], None] | None = None,
                       fair: bool = False) -> None:
        """Like ``register``, but a delivery also claims up to ``batch_size - 1`` other due jobs of the
        same name and hands all of them over at once (``handler`` returns one outcome per context).
        ``fair``: a delivery runs the fairest due job across tenants instead of the one its message names
        (whose message is sent again), and its batch holds that tenant's jobs only."""
        self._add(Registration(name, handler, batch_size, max_attempts or self.config.max_attempts,
                               self.config.backoff_seconds if backoff_seconds is None else backoff_seconds, on_cancel,
                               fair))

    def _add(self, registration: Registration) -> None:
        app, dot, kind = registration.name.partition(".")
        if not app or not dot or not kind or "." in kind:
            raise ConfigError(f"job name {registration.name!r} must be '<app>.<kind>'")
        self._handlers[registration.name] = registration

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    # -- enqueue and read ----------------------------------------------------------------------
    def enqueue(self, tenant_id: str, app: str, kind: str, payload: dict[str, Any] | None = None, *,
                dedupe_key: str | None = None, max_attempts: int | None = None,
                session: Session | None = None) -> JobInfo:
        """Record a job and send its message. With ``session`` the job is written in the caller's
        transaction and sent once it commits. With ``dedupe_key`` an existing job of that key (same
        tenant, app and kind) is returned instead of a new one."""
        registered = self._handlers.get(f"{app}.{kind}")
        attempts = max_attempts or (registered.max_attempts if registered else self.config.max_attempts)
        if session is None:
            info, created = self.store.create_now(tenant_id, app, kind, payload or {},
                                                  dedupe_key=dedupe_key, max_attempts=attempts)
            if created:
                self.send(info.id)
            return info
        record, created = self.store.create(session, tenant_id, app, kind, payload or {},
                                            dedupe_key=dedupe_key, max_attempts=attempts)
        if created:
            job_id = record.id
            event.listen(session, "after_commit", lambda _s: self.send(job_id), once=True)
        return JobInfo.from_record(record)

    def send(self, job_id: str, delay_seconds: float = 0.0) -> None:
        """Put a message for the job on the broker (a failure is logged; the reaper sends it later)."""
        try:
            self.store.mark_enqueued(job_id)
            if delay_seconds > 0:
                self._deliver.schedule(args=(job_id,), delay=delay_seconds)
            else:
                self._deliver(job_id)
        except Exception:
            log.exception("could not send job %s to the broker; the reaper will send it again", job_id)

    def get(self, tenant_id: str, job_id: str) -> JobInfo:
        return self.store.get(tenant_id, job_id)

    def list_jobs(self, tenant_id: str, *, app: str | None = None, state: str | None = None,
                  limit: int = 50) -> list[JobInfo]:
        """The tenant's jobs, newest first, optionally of one app and in one state."""
        return self.store.find(tenant_id, app=app, state=state, limit=limit)

    def cancel(self, tenant_id: str, job_id: str) -> JobInfo:
        """Cancel a queued or running job; a running handler sees ``ctx.is_cancelled`` at its next
        heartbeat and nothing it completes afterwards is kept."""
        info, changed = self.store.cancel(tenant_id, job_id)
        registration = self._handlers.get(f"{info.app}.{info.kind}")
        if changed and registration is not None and registration.on_cancel is not None:
            registration.on_cancel(info)
        with self._lock:
            for context in self._inflight.values():
                if context.job_id == job_id:
                    context._lost.set()
        return info

    # -- one delivery (called on a consumer thread) --------------------------------------------
    def deliver(self, job_id: str) -> None:
        """Claim the job and run its handler; never raises."""
        info = self.store.get_any(job_id)
        if info is None or info.state != "queued":
            return  # done, cancelled or held by another delivery: this message is a duplicate
        registration = self._handlers.get(f"{info.app}.{info.kind}")
        if registration is None:
            log.error("no handler for job %s (%s.%s) in this worker; valid: %s", job_id, info.app, info.kind,
                      ", ".join(self.names) or "none")
            return
        if info.next_attempt_at is not None:
            early = (info.next_attempt_at - utcnow()).total_seconds()
            if early > 0:
                self.send(job_id, early)  # a clock ahead of ours, or a redelivery: come back when due
                return
        if registration.fair:  # this message is a turn: the fairest due job takes it
            fairest = self.store.fair_next(info.app, info.kind)
            if fairest is not None and fairest != job_id:
                claim = self.store.claim(fairest, self._owner())
                if claim is not None:
                    self.send(job_id)  # the named job keeps a message of its own
                    return self._run(registration, claim)
        claim = self.store.claim(job_id, self._owner())
        if claim is None:
            return
        self._run(registration, claim)

    def _run(self, registration: Registration, claim: Claim) -> None:
        """Run a claimed job (with due siblings for batch handlers) and settle every outcome."""
        job_id = claim.job_id
        claims = [claim]
        if registration.batch_size > 1:
            tenant = claim.tenant_id if registration.fair else None
            for sibling in self.store.due_siblings(claim.app, claim.kind, job_id, registration.batch_size - 1, tenant):
                more = self.store.claim(sibling, self._owner())
                if more is not None:
                    claims.append(more)
        contexts = [self._context(c) for c in claims]
        with self._lock:
            self._inflight.update({c.lease_owner: c for c in contexts})
        try:
            try:
                outcomes = registration.run(contexts)
            except Exception as exc:
                outcomes = [exc] * len(contexts)
            assert len(outcomes) == len(contexts), f"{registration.name} returned {len(outcomes)} outcomes"
            for context, claim_, outcome in zip(contexts, claims, outcomes):
                self._settle(registration, context, claim_, outcome)
        finally:
            with self._lock:
                for context in contexts:
                    self._inflight.pop(context.lease_owner, None)

    def _owner(self) -> str:
        return f"{self._worker_id}-{new_id()[:16]}"

    def _context(self, claim: Claim) -> JobContext:
        return JobContext(
            job_id=claim.job_id, tenant_id=claim.tenant_id, app=claim.app, kind=claim.kind,
            payload=claim.payload, attempt=claim.attempt, lease_owner=claim.lease_owner,
            app_context=self.app_contexts.get(claim.app), _progress=self._progress,
            _complete=self._complete, _stopping=self.stopping,
        )

    def _progress(self, context: JobContext, done: int, total: int | None) -> None:
        if not self.store.progress(context.job_id, context.lease_owner, done, total):
            context._lost.set()
            raise LeaseLost(context.job_id)

    @contextmanager
    def _complete(self, context: JobContext, result: Any) -> Iterator[Session]:
        with self.store.succeed_with_effect(context.job_id, context.lease_owner, result) as session:
            yield session
        context.completed = True

    def _settle(self, registration: Registration, context: JobContext, claim: Claim, outcome: Any) -> None:
        owner = context.lease_owner
        if context.completed:
            return
        if isinstance(outcome, LeaseLost):
            log.info("job %s was cancelled or taken over while it ran; its outcome is dropped", context.job_id)
        elif isinstance(outcome, ReleaseJob):
            if self.store.release(context.job_id, owner):
                self.send(context.job_id)
        elif isinstance(outcome, FailJob):
            self.store.fail(context.job_id, owner, str(outcome) or type(outcome).__name__)
        elif isinstance(outcome, BaseException):
            message = str(outcome) if isinstance(outcome, RetryJob) else f"{type(outcome).__name__}: {outcome}"
            if not isinstance(outcome, RetryJob):
                log.warning("job %s (%s) failed on attempt %d: %s", context.job_id, registration.name, claim.attempt,
                            "".join(traceback.format_exception(outcome)))
            if claim.attempt >= claim.max_attempts:
                self.store.fail(context.job_id, owner, f"{message} (after {claim.attempt} attempts)")
                return
            delay = getattr(outcome, "delay_seconds", None)
            if delay is None:
                delay = registration.backoff_seconds * 2 ** (claim.attempt - 1)
            if self.store.retry(context.job_id, owner, message, delay):
                self.send(context.job_id, delay)
        else:
            try:
                with self.store.succeed_with_effect(context.job_id, owner, outcome):
                    pass
            except LeaseLost:
                log.info("job %s finished after it was cancelled or taken over; result dropped", context.job_id)

    # -- upkeep (called by the worker's maintenance thread) ------------------------------------
    def heartbeat(self) -> None:
        """Renew the leases of every job running in this process; flag those no longer ours."""
        with self._lock:
            owners = list(self._inflight)
        if not owners:
            return
        held = self.store.renew(owners)
        with self._lock:
            for owner in owners:
                if owner not in held and owner in self._inflight:
                    self._inflight[owner]._lost.set()

    def hand_back(self) -> int:
        """Requeue every job still running in this process, attempt not counted (called when the
        consumer stops without waiting for them); their handlers can no longer complete them."""
        with self._lock:
            running = list(self._inflight.values())
        for context in running:
            context._lost.set()
            if self.store.release(context.job_id, context.lease_owner):
                self.send(context.job_id)
        return len(running)

    def reap(self) -> int:
        """Requeue jobs whose worker is gone and resend lost messages; returns how many were sent."""
        broker_idle = self.broker.pending_count() == 0  # looked at before the table: see JobConfig
        sent = self.store.reap_expired()
        wait = self.config.lost_message_seconds if broker_idle else self.config.redeliver_after_seconds
        sent += [i for i in self.store.undelivered(wait) if i not in sent]
        for job_id in sent:
            self.send(job_id)
        return len(sent)

    def wait(self, tenant_id: str, job_ids: list[str], timeout: float = 60.0) -> list[JobInfo]:
        """Block until every job is done (or ``timeout``); returns their state."""
        deadline = time.monotonic() + timeout
        while True:
            infos = [self.get(tenant_id, job_id) for job_id in job_ids]
            if all(info.is_done for info in infos) or time.monotonic() >= deadline:
                return infos
            time.sleep(0.05)

    # -- consumer in this process --------------------------------------------------------------
    def start(self, concurrency: int = 2) -> None:
        """Run a consumer (handler threads, heartbeat, reaper) inside this process."""
        from moesaic.jobs.worker import JobWorker

        if self._worker is None:
            self.stopping.clear()
            self._worker = JobWorker(self, concurrency)
            self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._worker is not None:
            self._worker.stop(timeout)
            self._worker = None
