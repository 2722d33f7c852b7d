"""The extraction job on Redis with a real worker killed mid-file: a file of 1,000 notes, the ``moesaic worker``
process running it gets SIGKILL part-way, a consumer started afterwards in the test process takes the job over
when its lease runs out, resumes after the complete lines, and the job succeeds with progress 1000/1000 and
every note's result exactly once.

The killed worker is ``python -m tests.apps.medical_ner_moesaic worker`` (medical_ner only); leases are 2 s so
the take-over is quick. The survivor runs in this process (it already holds the loaded model), which saves a
second worker's start-up (about 20 s on two cores); the notes are short.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.medical_ner.jobs import results_path
from apps.medical_ner.manifest import APP
from apps.medical_ner.tagger import Tagger
from moesaic.access import authenticate, create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from tests.apps.contract_app.test_contract_app_redis import stop, wait_until_consuming
from tests.jobs.conftest import redis_settings, worker_command, worker_env

NUM_NOTES = 1000
KILL_AFTER = 96  # complete notes written before the kill (three batches)
LEASE_S = 2.0


def start_worker(settings: Settings, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {**worker_env(settings, tmp_path), "PYTHONUNBUFFERED": "1", "MOESAIC_JOB_LEASE_SECONDS": str(LEASE_S)}
    log = tmp_path / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(worker_command(1, "tests.apps.medical_ner_moesaic"), env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    return process, log


@pytest.fixture
def api(tmp_path: Path, redis_url: str, tagger: Tagger) -> Iterator[tuple[Any, TestClient, str]]:
    """(platform, client, tenant id): the API on a Redis queue of this test's own; it runs no jobs itself."""
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    base = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'm.db'}", datasets_dir=tmp_path / "none",
                    job_lease_seconds=LEASE_S)
    platform = Platform.create(redis_settings(base, redis_url), model=FakeChatModel(), apps={APP.name: APP},
                               start_worker=False)
    platform.app_context(APP.name).services["tagger"] = tagger
    key = create_api_key(platform.db, "clinic")
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield platform, client, authenticate(platform.db, key).tenant_id
    platform.close()


def complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def holder_pid(platform: Any, job_id: str) -> int:
    """The pid of the worker whose lease the job is under (lease owners start with it)."""
    from sqlalchemy import select

    from moesaic.jobs.tables import JobRecord

    with platform.db.session() as session:
        owner = session.scalar(select(JobRecord.lease_owner).where(JobRecord.id == job_id))
    assert owner, f"job {job_id} is held by no worker"
    return int(str(owner).split("-")[0])


def test_a_worker_killed_mid_file_is_resumed_and_every_note_is_done_once(api: tuple[Any, TestClient, str],
                                                                          tmp_path: Path) -> None:
    platform, client, tenant = api
    notes = [{"id": f"n{i:04d}", "text": f"Note {i}: denies chest pain. Takes aspirin."} for i in range(NUM_NOTES)]
    victim = start_worker(platform.settings, tmp_path, "victim")
    try:
        wait_until_consuming([victim])
        data = "".join(json.dumps(n) + "\n" for n in notes).encode()
        accepted = client.post("/v1/apps/medical_ner/jobs", files={"file": ("notes.jsonl", data)})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        results = results_path(platform.settings.home, tenant, job_id)

        deadline = time.monotonic() + 90
        while complete_lines(results) < KILL_AFTER:
            assert victim[0].poll() is None and time.monotonic() < deadline, victim[1].read_text()[-3000:]
            time.sleep(0.01)
        assert holder_pid(platform, job_id) == victim[0].pid
        os.kill(victim[0].pid, signal.SIGKILL)
        victim[0].wait(10)
        at_kill = client.get(f"/v1/jobs/{job_id}").json()
        kept = complete_lines(results)
        prefix = results.read_bytes()[: results.read_bytes().rfind(b"\n") + 1]
        assert at_kill["state"] == "running" and KILL_AFTER <= kept < NUM_NOTES, (at_kill, kept)
        platform.knowledge.start()  # the survivor: a consumer in this process; its reaper requeues the job

        seen: list[tuple[int, int]] = []  # (attempt, done) until the job ends
        deadline = time.monotonic() + 120
        while True:
            job = client.get(f"/v1/jobs/{job_id}").json()
            seen.append((job["attempts"], job["progress"]["done"]))
            if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop([victim])

    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2 and job["progress"] == {"done": NUM_NOTES, "total": NUM_NOTES}
    assert job["result"]["num_notes"] == NUM_NOTES
    assert all(done >= kept for attempt, done in seen if attempt == 2), \
        f"the resumed delivery restarted below the {kept} kept notes: {seen}"
    lines = results.read_bytes()
    assert lines.startswith(prefix)  # what the killed worker completed is kept as written
    records = [json.loads(line) for line in lines.decode("utf-8").splitlines()]
    assert [r["id"] for r in records] == [n["id"] for n in notes]  # every note, in order, exactly once
    expected = {("chest pain", "absent"), ("aspirin", "present")}
    assert all(expected <= {(e["text"], e["assertion"]) for e in r["entities"]} for r in records)
    assert all(r["text"][e["start"] : e["end"]] == e["text"] for r in records for e in r["entities"])
    download = client.get(f"/v1/apps/medical_ner/jobs/{job_id}/results")
    assert download.status_code == 200 and download.content == lines
