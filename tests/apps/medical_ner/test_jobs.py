"""The batch path: a file of 1,000 notes through the API and the embedded queue, downloads, and resume."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.medical_ner.jobs import extract_file_job, results_path, save_upload
from apps.medical_ner.manifest import APP
from apps.medical_ner.notes_file import Note
from apps.medical_ner.tagger import Tagger
from moesaic.config import Settings
from moesaic.jobs import JobContext
from moesaic.llm import FakeChatModel


@pytest.fixture(scope="module")
def fast_tagger() -> Tagger:
    return Tagger.load(precision="auto")  # what the app serves (bf16 where the CPU has it)


@pytest.fixture()
def serving(tmp_path: Path, fast_tagger: Tagger) -> Iterator[tuple[Any, TestClient]]:
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'm.db'}", datasets_dir=tmp_path / "none")
    platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP}, start_worker=True)
    platform.app_context(APP.name).services["tagger"] = fast_tagger
    key = create_api_key(platform.db, f"t{secrets.token_hex(4)}")
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield platform, client
    platform.close()


def _wait(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("state") in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_file_of_a_thousand_notes_runs_to_completion_with_downloads(serving: tuple[Any, TestClient]) -> None:
    _, client = serving
    notes = [{"id": f"n{i}", "text": f"Patient {i} denies chest pain;\r\non metformin."} for i in range(1000)]
    data = "".join(json.dumps(n) + "\n" for n in notes).encode()
    accepted = client.post("/v1/apps/medical_ner/jobs", files={"file": ("notes.jsonl", data)}, data={"labels": "problem,treatment"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["num_notes"] == 1000
    job = _wait(client, accepted.json()["job_id"])
    assert job["state"] == "succeeded", job
    assert job["progress"] == {"done": 1000, "total": 1000}
    assert job["result"]["num_notes"] == 1000 and job["result"]["num_entities"] >= 2000

    jsonl = client.get(f"/v1/apps/medical_ner/jobs/{job['id']}/results")
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["id"] for r in records] == [n["id"] for n in notes]
    for record in records:
        assert all(record["text"][e["start"] : e["end"]] == e["text"] for e in record["entities"])
    assert {(e["text"], e["assertion"]) for e in records[7]["entities"]} >= {("chest pain", "absent"), ("metformin", "present")}

    brat = client.get(f"/v1/apps/medical_ner/jobs/{job['id']}/results", params={"format": "brat"})
    archive = zipfile.ZipFile(io.BytesIO(brat.content))
    assert len(archive.namelist()) == 2000 and "Assertion" in archive.read("n7.ann").decode()
    wrong = client.get(f"/v1/apps/medical_ner/jobs/{job['id']}/results", params={"format": "xml"})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "format"


@pytest.mark.parametrize(
    ("files", "form", "param"),
    [
        ({"file": ("notes.txt", "fi\xe8vre".encode("latin-1"))}, {}, "file"),
        ({"file": ("notes.pdf", b"%PDF")}, {}, "file"),
        ({"file": ("notes.txt", b"fever")}, {"mode": "psychic"}, "mode"),
        ({"file": ("notes.txt", b"fever")}, {"labels": "problem,gene"}, "labels"),
    ],
)
def test_bad_uploads_are_a_4xx_naming_the_field(serving: tuple[Any, TestClient], files: dict, form: dict, param: str) -> None:
    _, client = serving
    response = client.post("/v1/apps/medical_ner/jobs", files=files, data=form)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_results_of_an_unknown_job_are_not_found(serving: tuple[Any, TestClient]) -> None:
    _, client = serving
    assert client.get("/v1/apps/medical_ner/jobs/nope/results").status_code == 404


def test_a_redelivered_job_continues_after_the_complete_lines(serving: tuple[Any, TestClient]) -> None:
    """A worker killed mid-file left two complete lines and a torn third: the next delivery finishes the rest once."""
    platform, _ = serving
    ctx = platform.app_context(APP.name)
    notes = [Note(str(i), f"Note {i}: no asthma.") for i in range(5)]
    save_upload(ctx.settings.home, "tenant1", "up1", notes)
    target = results_path(ctx.settings.home, "tenant1", "job1")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('{"id": "0", "text": "Note 0: no asthma.", "entities": []}\n'
                      '{"id": "1", "text": "Note 1: no asthma.", "entities": []}\n{"id": "2", "te', encoding="utf-8")
    progress: list[tuple[int, int | None]] = []
    finished: list[Any] = []
    job = JobContext(job_id="job1", tenant_id="tenant1", app="medical_ner", kind="extract_file",
                     payload={"upload": "up1", "mode": "model", "labels": None}, attempt=2, lease_owner="w2",
                     app_context=ctx, _progress=lambda _job, done, total: progress.append((done, total)),
                     _complete=lambda _job, result: finished.append(result) or contextlib.nullcontext(None))
    extract_file_job(job)
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["0", "1", "2", "3", "4"]
    assert progress[0] == (2, 5) and progress[-1] == (5, 5)
    assert [e["text"] for e in records[3]["entities"]] == ["asthma"]
    assert finished == [{"num_notes": 5, "num_entities": 3, "num_llm_dropped": 0}]


def test_a_delivery_waits_for_the_lock_of_one_still_running_and_gives_up_when_it_loses_the_job(
        serving: tuple[Any, TestClient]) -> None:
    """Two deliveries of one job never append side by side: the second waits on the results file's lock
    (held here, as by a worker that lost its lease but still runs), writes nothing meanwhile, and stops
    with LeaseLost when the job is no longer its own; once the lock is free a delivery finishes the file."""
    import fcntl
    import threading

    from apps.medical_ner.jobs import exclusive
    from moesaic.jobs import LeaseLost

    platform, _ = serving
    ctx = platform.app_context(APP.name)
    notes = [Note(str(i), f"Note {i}: no asthma.") for i in range(3)]
    save_upload(ctx.settings.home, "tenant1", "up2", notes)
    target = results_path(ctx.settings.home, "tenant1", "job2")
    target.parent.mkdir(parents=True, exist_ok=True)

    def delivery(owner: str) -> JobContext:
        return JobContext(job_id="job2", tenant_id="tenant1", app="medical_ner", kind="extract_file",
                          payload={"upload": "up2", "mode": "model", "labels": None}, attempt=2, lease_owner=owner,
                          app_context=ctx, _progress=lambda _job, done, total: None,
                          _complete=lambda _job, result: contextlib.nullcontext(None))

    outcome: list[BaseException | None] = []
    waiting = delivery("w2")
    with open(target.with_suffix(".lock"), "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: outcome.append(_run(waiting)))
        thread.start()
        time.sleep(0.6)
        assert thread.is_alive() and not target.exists()  # waiting, nothing written
        waiting._lost.set()  # the heartbeat found the job taken over
        thread.join(5)
        assert isinstance(outcome[0], LeaseLost) and not target.exists()
    extract_file_job(delivery("w3"))  # the lock is free again
    assert [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()] == ["0", "1", "2"]
    with exclusive(target, delivery("w4")):  # and released after the delivery
        pass


def _run(job: JobContext) -> BaseException | None:
    try:
        extract_file_job(job)
    except BaseException as exc:  # noqa: BLE001 - the outcome is what the test checks
        return exc
    return None


def test_files_over_a_limit_are_a_400_naming_the_file_and_the_limit(serving: tuple[Any, TestClient],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes, notes and characters per note: each limit named (the limits are lowered here, the code path is the same)."""
    import apps.medical_ner.notes_file as notes_file
    import apps.medical_ner.routes as routes

    _, client = serving
    monkeypatch.setattr(notes_file, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(routes, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(notes_file, "MAX_NOTES", 5)
    for body, words in [("x" * 2000, "the limit is 1000"), ("fever\n" * 6, "6 notes; the limit is 5")]:
        response = client.post("/v1/apps/medical_ner/jobs", files={"file": ("notes.txt", body.encode())})
        error = response.json()["error"]
        assert response.status_code == 400 and error["param"] == "file" and words in error["message"], error
    monkeypatch.setattr(notes_file, "MAX_TEXT_CHARS", 10)
    response = client.post("/v1/apps/medical_ner/jobs", files={"file": ("notes.txt", b"fever\nchest pain and cough\n")})
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "file"
    assert "note '2' is empty or over 10 characters" in error["message"]
    assert client.get("/v1/jobs").json()["data"] == []  # nothing queued
