"""contract_app's job on Redis: two real ``moesaic worker`` processes share one queue, the API queues
jobs through the app's own route, and every job ends succeeded with its notes added exactly once.

The workers run ``moesaic worker`` with only this app installed (``tests/apps/contract_app_moesaic.py``);
the SIGKILL scenario of the queue itself is tests/jobs/test_redis_workers.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moesaic.access import authenticate, create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from tests.apps.contract_app.manifest import APP
from tests.apps.contract_app.notes import count_notes
from tests.apps.contract_app.test_contract_app import wait_for_job
from tests.jobs.conftest import redis_settings, worker_command, worker_env
from tests.live import stop_processes

NUM_JOBS = 12
NOTES_PER_JOB = 3


@pytest.fixture
def redis_platform(tmp_path: Path, fresh_database_url: str, redis_url: str) -> Iterator[Any]:
    """The API's platform on a Redis queue of this test's own; it consumes nothing itself."""
    from moesaic.services import Platform

    base = Settings(home=tmp_path / "home", database_url=fresh_database_url, datasets_dir=tmp_path / "none")
    built = Platform.create(redis_settings(base, redis_url), model=FakeChatModel(), apps={APP.name: APP},
                            start_worker=False)
    yield built
    built.close()


def start_workers(settings: Settings, tmp_path: Path, count: int) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """``count`` workers of one handler thread each, started after the platform set the database up."""
    env = {**worker_env(settings, tmp_path), "PYTHONUNBUFFERED": "1"}
    started = []
    for i in range(count):
        log = tmp_path / f"worker{i}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(worker_command(1, "tests.apps.contract_app_moesaic"), env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        started.append((process, log))
    return started


def wait_until_consuming(workers: list[tuple[subprocess.Popen[bytes], Path]], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    for process, log in workers:
        while "worker on redis:" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {process.pid} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)


def stop(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    stop_processes(process for process, _ in workers)


def test_two_redis_workers_run_the_apps_jobs_each_once(redis_platform: Any, tmp_path: Path) -> None:
    from moesaic.api.main import create_app

    platform = redis_platform
    key = create_api_key(platform.db, "acme")
    tenant = authenticate(platform.db, key).tenant_id
    workers = start_workers(platform.settings, tmp_path, 2)
    try:
        wait_until_consuming(workers)
        with TestClient(create_app(platform=platform)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            job_ids = []
            for n in range(NUM_JOBS):
                texts = [f"job {n} note {i}" for i in range(NOTES_PER_JOB)]
                accepted = client.post("/v1/apps/contract_app/notes:bulk", json={"texts": texts})
                assert accepted.status_code == 202, accepted.text
                job_ids.append(accepted.json()["job_id"])
            jobs = [wait_for_job(client, job_id, timeout=90) for job_id in job_ids]
            notes = client.get("/v1/apps/contract_app/notes").json()["data"]
    finally:
        stop(workers)
    logs = "\n".join(log.read_text()[-1500:] for _, log in workers)
    assert [job["state"] for job in jobs] == ["succeeded"] * NUM_JOBS, logs
    assert {job["result"]["added"] for job in jobs} == {NOTES_PER_JOB}
    ran_by = {job["result"]["worker_pid"] for job in jobs}
    assert ran_by == {process.pid for process, _ in workers}, f"both workers take jobs off one queue: {ran_by}"
    expected = sorted(f"job {n} note {i}" for n in range(NUM_JOBS) for i in range(NOTES_PER_JOB))
    assert sorted(note["text"] for note in notes) == expected  # every note, none twice
    assert count_notes(platform.db, tenant) == NUM_JOBS * NOTES_PER_JOB
