"""``moesaic worker`` on the embedded broker stops on SIGTERM without losing the job it was running:
the job goes back to the queue at once (no lease to wait out, the attempt not counted) and the next
worker finishes it, with its effect applied once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import update

from moesaic.config import Settings
from moesaic.db import Database
from moesaic.jobs.tables import JobRecord
from tests.jobs.conftest import effects, make_queue, worker_command, worker_env


def test_sigterm_hands_the_running_job_back(db: Database, settings: Settings, tmp_path: Path) -> None:
    producer = make_queue(db, settings)
    job = producer.enqueue("acme", "jobs_test", "effect", {"n": 1, "seconds": 30, "steps": 30})
    env = {**worker_env(settings, tmp_path), "MOESAIC_JOB_LEASE_SECONDS": "60"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(worker_command(1), env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while producer.get("acme", job.id).state != "running":
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
    back = producer.get("acme", job.id)
    assert back.state == "queued" and back.attempts == 0, log.read_text()[-2000:]  # not a 60 s lease wait
    assert "handed 1 running jobs back" in log.read_text()
    quick = make_queue(db, settings)
    with db.session() as session:  # the rerun need not take 30 s
        session.execute(update(JobRecord).where(JobRecord.id == job.id).values(payload={"n": 1}))
    quick.start()
    [done] = quick.wait("acme", [job.id], timeout=30)
    quick.stop()
    assert done.state == "succeeded" and done.attempts == 1
    assert effects(db) == {job.id: 1}
