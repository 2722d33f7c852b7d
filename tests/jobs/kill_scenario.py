"""The acceptance scenario, shared by ``test_redis_workers`` (20 jobs) and ``bench/jobs_kill.py``
(200): jobs queued on Redis, two ``moesaic worker`` processes, one killed with SIGKILL while it
holds a job; every job must end succeeded with its effect applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text

from moesaic.config import Settings
from moesaic.db import Database
from moesaic.jobs.tables import JobRecord
from moesaic.retrieval.tables import DocumentRecord
from moesaic.services import Platform
from tests.jobs.conftest import make_queue, worker_command, worker_env
from tests.live import stop_processes


@dataclass
class KillReport:
    num_jobs: int
    seconds: float  # from the first worker start to the last job done
    states: dict[str, int]
    effects_per_job: dict[int, int]  # number of effect rows -> how many jobs have that many
    held_by_killed: list[str]  # jobs the killed worker was running when it died
    attempts_of_held: list[int]
    effects_by_pid: dict[int, int]
    killed_pid: int
    survivor_pid: int


def run_kill_scenario(db: Database, settings: Settings, tmp_path: Path, *, num_jobs: int, seconds_per_job: float,
                      concurrency: int = 2, lease_seconds: float = 2.0, timeout: float = 120.0,
                      kill_after: float = 0.3) -> KillReport:
    """``kill_after``: the share of all jobs done before the kill (the victim must have done one
    of them and be running others at that moment)."""
    assert settings.redis_url, "the scenario runs on Redis"
    # Two processes starting together on a fresh database race to create the default tenant and the
    # apps' create_all tables (a platform bug outside the queue): set the database up once first,
    # with the apps' own knowledge documents indexed, so the workers start on a settled platform.
    platform = Platform.create(settings, start_worker=True)
    try:
        with db.session() as session:
            seeded = list(session.scalars(select(DocumentRecord.id)).all())
        platform.knowledge.wait(seeded, timeout=120)
    finally:
        platform.close()
    producer = make_queue(db, settings)
    jobs = [producer.enqueue("acme", "jobs_test", "effect", {"n": i, "seconds": seconds_per_job, "steps": 4})
            for i in range(num_jobs)]
    env = {**worker_env(settings, tmp_path), "MOESAIC_JOB_LEASE_SECONDS": str(lease_seconds)}
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    started = time.monotonic()
    workers = [subprocess.Popen(worker_command(concurrency), env=env, stdout=log, stderr=subprocess.STDOUT)
               for log in logs]
    try:
        victim, survivor = workers
        _wait_until_holding(db, victim, logs[0].name, max(1, int(kill_after * num_jobs)), started + timeout)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        held = _running_held_by(db, victim.pid)  # what it held when it died (its leases run for a while)
        _wait_all_done(db, [job.id for job in jobs], survivor, started + timeout, logs[1].name)
        seconds = time.monotonic() - started
    finally:
        stop_processes(workers)
        for log in logs:
            log.close()
    with db.session() as session:
        records = session.scalars(select(JobRecord).where(JobRecord.id.in_([job.id for job in jobs]))).all()
        states: dict[str, int] = {}
        for record in records:
            states[record.state] = states.get(record.state, 0) + 1
        attempts = {record.id: record.attempts for record in records}
        rows = session.execute(text("SELECT job_id, pid FROM job_effects")).all()
    per_job: dict[str, int] = {}
    by_pid: dict[int, int] = {}
    for job_id, pid in rows:
        per_job[job_id] = per_job.get(job_id, 0) + 1
        by_pid[int(pid)] = by_pid.get(int(pid), 0) + 1
    histogram: dict[int, int] = {}
    for job in jobs:
        count = per_job.get(job.id, 0)
        histogram[count] = histogram.get(count, 0) + 1
    return KillReport(num_jobs, seconds, states, histogram, held, [attempts[i] for i in held], by_pid,
                      victim.pid, survivor.pid)


def _running_held_by(db: Database, pid: int, *, max_steps_done: int | None = None) -> list[str]:
    query = select(JobRecord.id).where(JobRecord.app == "jobs_test", JobRecord.state == "running",
                                       JobRecord.lease_owner.like(f"{pid}-%"))
    if max_steps_done is not None:
        query = query.where(JobRecord.progress_done <= max_steps_done)
    with db.session() as session:
        return list(session.scalars(query).all())


def _wait_until_holding(db: Database, process: subprocess.Popen, log: str, min_done: int, deadline: float) -> None:
    """Wait until ``min_done`` effects exist, one of them the worker's, and it is running a job it has not
    got far into (at most 1 of its 4 steps done), so that the kill lands mid-job even on a loaded machine
    (a job about to finish could end between this check and the kill, and nothing would be taken over)."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{Path(log).read_text()[-3000:]}")
        held = _running_held_by(db, process.pid, max_steps_done=1)
        with db.session() as session:
            mine = session.scalar(text("SELECT count(*) FROM job_effects WHERE pid = :pid"), {"pid": process.pid})
            done = session.scalar(text("SELECT count(*) FROM job_effects"))
        if held and mine and done >= min_done:
            return
        time.sleep(0.02)
    raise AssertionError(f"the worker never ran a job:\n{Path(log).read_text()[-3000:]}")


def _wait_all_done(db: Database, job_ids: list[str], survivor: subprocess.Popen, deadline: float, log: str) -> None:
    while time.monotonic() < deadline:
        if survivor.poll() is not None:
            raise AssertionError(f"the surviving worker exited:\n{Path(log).read_text()[-3000:]}")
        with db.session() as session:
            left = session.scalar(
                select(text("count(*)")).select_from(JobRecord).where(
                    JobRecord.id.in_(job_ids), JobRecord.state.in_(("queued", "running"))
                )
            )
        if not left:
            return
        time.sleep(0.1)
    with db.session() as session:
        left_rows = session.execute(
            select(JobRecord.id, JobRecord.state, JobRecord.attempts, JobRecord.lease_owner, JobRecord.lease_expires_at,
                   JobRecord.next_attempt_at, JobRecord.error)
            .where(JobRecord.id.in_(job_ids), JobRecord.state.in_(("queued", "running")))
        ).all()
    raise AssertionError(f"jobs still unfinished at the deadline: {left_rows}\n{Path(log).read_text()[-1500:]}")
