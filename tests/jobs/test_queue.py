"""The job queue on the embedded broker (SqliteHuey in MOESAIC_HOME) over SQLite and PostgreSQL:
end to end, retries with backoff, cancel, dedupe, and effects that apply once although a job is
delivered twice."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update

from moesaic.config import Settings
from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound
from moesaic.jobs import JobConfig, JobContext, JobQueue
from moesaic.jobs.tables import JobRecord
from tests.jobs.conftest import effects, make_queue
from tests.jobs.jobs_app import ATTEMPT_LOG


def test_embedded_queue_runs_jobs_end_to_end(queue: JobQueue, db: Database, settings: Settings) -> None:
    assert settings.jobs_path.exists() and settings.redis_url is None  # the SQLite broker file
    queue.start(concurrency=2)
    jobs = [queue.enqueue("acme", "jobs_test", "effect", {"n": i, "steps": 3}) for i in range(12)]
    assert all(job.state == "queued" for job in jobs)
    done = queue.wait("acme", [job.id for job in jobs], timeout=30)
    assert [job.state for job in done] == ["succeeded"] * 12
    assert [job.result["n"] for job in done] == list(range(12))  # the result given to complete()
    assert all(job.progress_done == job.progress_total == 3 and job.attempts == 1 for job in done)
    assert effects(db) == {job.id: 1 for job in jobs}


def test_transient_failures_are_retried_with_growing_backoff(queue: JobQueue) -> None:
    queue.start()
    job = queue.enqueue("acme", "jobs_test", "flaky", {"succeed_on": 3})
    [done] = queue.wait("acme", [job.id], timeout=30)
    assert done.state == "succeeded" and done.result == "ok on attempt 3"
    assert done.attempts == 3 and done.error is None
    first, second, third = ATTEMPT_LOG[job.id]
    assert second - first >= 0.2 and third - second >= 0.4  # backoff 0.2 s, doubling


def test_retries_run_out_and_permanent_errors_fail_at_once(queue: JobQueue) -> None:
    queue.start()
    exhausted = queue.enqueue("acme", "jobs_test", "flaky", {"succeed_on": 99})
    permanent = queue.enqueue("acme", "jobs_test", "flaky", {"permanent": True})
    polite = queue.enqueue("acme", "jobs_test", "polite", {})
    exhausted, permanent, polite = queue.wait("acme", [exhausted.id, permanent.id, polite.id], timeout=30)
    assert exhausted.state == "failed" and exhausted.attempts == 3
    assert exhausted.error == "RuntimeError: transient failure on attempt 3 (after 3 attempts)"
    assert permanent.state == "failed" and permanent.attempts == 1
    assert permanent.error == "the payload names no such record"
    assert polite.state == "succeeded" and polite.attempts == 2


def test_dedupe_key_returns_the_existing_job(queue: JobQueue) -> None:
    first = queue.enqueue("acme", "jobs_test", "effect", {"n": 1}, dedupe_key="order-7")
    again = queue.enqueue("acme", "jobs_test", "effect", {"n": 2}, dedupe_key="order-7")
    other_tenant = queue.enqueue("globex", "jobs_test", "effect", {"n": 3}, dedupe_key="order-7")
    assert again.id == first.id and again.payload == {"n": 1}
    assert other_tenant.id != first.id


def test_cancel_stops_queued_and_running_jobs_and_keeps_no_effect(queue: JobQueue, db: Database) -> None:
    waiting = queue.enqueue("acme", "jobs_test", "effect", {"n": 0})
    assert queue.cancel("acme", waiting.id).state == "cancelled"  # before any worker runs
    running = queue.enqueue("acme", "jobs_test", "effect", {"n": 1, "seconds": 20, "steps": 200})
    queue.start()
    deadline = time.monotonic() + 20
    while queue.get("acme", running.id).state != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    cancelled = queue.cancel("acme", running.id)
    assert cancelled.state == "cancelled" and cancelled.finished_at is not None
    queue.stop(timeout=5)  # the handler stops at its next progress() call (it would run 20 s)
    assert queue.get("acme", running.id).state == "cancelled"
    assert queue.get("acme", waiting.id).attempts == 0
    assert effects(db) == {}
    with pytest.raises(NotFound):
        queue.cancel("globex", running.id)  # another tenant's job does not exist for it
    done = queue.enqueue("acme", "jobs_test", "flaky", {"succeed_on": 1})
    queue.start()
    queue.wait("acme", [done.id], timeout=20)
    with pytest.raises(Conflict, match="already succeeded"):
        queue.cancel("acme", done.id)


def test_a_stalled_delivery_cannot_apply_its_effect_after_the_job_was_taken_over(
    db: Database, settings: Settings
) -> None:
    """Delivery 1 stalls past its lease (no heartbeat: a frozen worker); the reaper gives the job to
    delivery 2, which applies the effect. When delivery 1 wakes up, its effect is rolled back."""
    queue = JobQueue.from_settings(db, settings, JobConfig(lease_seconds=1.0))
    release = threading.Event()
    calls: list[int] = []

    def stall_first(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            release.wait(30)
        with ctx.complete({"attempt": ctx.attempt}) as session:
            from sqlalchemy import text

            session.execute(text("INSERT INTO job_effects (job_id, pid) VALUES (:j, :a)"), {"j": ctx.job_id, "a": ctx.attempt})

    queue.register("jobs_test.stall", stall_first)
    job = queue.enqueue("acme", "jobs_test", "stall", {})
    first = threading.Thread(target=queue.deliver, args=(job.id,))
    first.start()
    deadline = time.monotonic() + 10
    while queue.get("acme", job.id).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert queue.reap() == 0  # the lease still holds
    with db.session() as session:  # time passes: the lease runs out
        session.execute(update(JobRecord).where(JobRecord.id == job.id).values(lease_expires_at=utcnow()))
    assert queue.reap() == 1
    assert queue.get("acme", job.id).state == "queued"
    queue.deliver(job.id)  # the redelivery (what a consumer does with the reaper's message)
    release.set()
    first.join(10)
    done = queue.get("acme", job.id)
    assert calls == [1, 2]
    assert done.state == "succeeded" and done.attempts == 2 and done.result == {"attempt": 2}
    assert effects(db) == {job.id: 1}
    queue.deliver(job.id)  # a duplicate message for a finished job changes nothing
    assert calls == [1, 2] and effects(db) == {job.id: 1}


def test_a_job_whose_worker_died_too_often_fails_with_the_reason(db: Database, settings: Settings) -> None:
    queue = make_queue(db, settings)
    job = queue.enqueue("acme", "jobs_test", "effect", {"n": 1})
    for attempt in range(1, 4):
        assert queue.store.claim(job.id, f"dead-worker-{attempt}") is not None  # taken, then silence
        with db.session() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job.id).values(lease_expires_at=utcnow()))
        queue.reap()
    failed = queue.get("acme", job.id)
    assert failed.state == "failed" and failed.attempts == 3
    assert failed.error == "the worker running it stopped without finishing, 3 times"


def test_a_message_lost_between_dequeue_and_claim_is_sent_again(db: Database, settings: Settings) -> None:
    """A consumer killed right after taking a message off the broker, before claiming its job."""
    queue = make_queue(db, settings, JobConfig(lost_message_seconds=0.0, poll_seconds=0.05))
    lost = queue.enqueue("acme", "jobs_test", "effect", {"n": 1})
    waiting = queue.enqueue("acme", "jobs_test", "effect", {"n": 2})
    assert queue.broker.dequeue() is not None  # the first message leaves the broker with the dying worker
    assert queue.reap() == 0  # another message still waits: nothing can be called lost yet
    queue.broker.dequeue()  # ... and that one is taken too (the second job stays unclaimed as well)
    assert queue.reap() == 2  # the broker is empty while both jobs are due and unclaimed
    queue.start()
    done = queue.wait("acme", [lost.id, waiting.id], timeout=20)
    assert [job.state for job in done] == ["succeeded", "succeeded"]
    assert effects(db) == {lost.id: 1, waiting.id: 1}
    queue.stop()
