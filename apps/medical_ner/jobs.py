"""The batch job ``extract_file``: extract entities from every note of an uploaded file, resumably.

``POST /v1/apps/medical_ner/jobs`` stores the parsed notes under ``<home>/medical_ner/<tenant>/uploads``
and queues ``medical_ner.extract_file`` with ``{"upload", "mode", "labels"}``. The handler appends one
JSON line per note to ``<home>/medical_ner/<tenant>/results/<job_id>.jsonl`` in batches, reporting
progress after each. Delivery is at least once: a later delivery (a worker killed mid-file) keeps the
complete lines already written, drops a torn last line, and continues from the next note, so the
results hold every note exactly once. A delivery holds an exclusive lock on the results file while it
runs (``flock``; the kernel drops it when a process dies), so a delivery that took over from a worker
which lost its lease but still runs waits until that one stops (at its next progress report) instead of
appending beside it. Bad input found only now (e.g. ``llm`` mode with no chat model)
fails the job without retries.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moesaic.apps import is_safe_id, tenant_folder
from moesaic.errors import UserError
from moesaic.jobs import FailJob, JobContext, LeaseLost

from apps.medical_ner.notes_file import Note
from apps.medical_ner.service import get_extractor

EXTRACT_FILE = "extract_file"
BATCH_NOTES = 32


def app_dir(home: Path, tenant_id: str) -> Path:
    return tenant_folder(home, "medical_ner", tenant_id)


def upload_path(home: Path, tenant_id: str, upload_id: str) -> Path:
    if not is_safe_id(upload_id):
        raise FailJob(f"upload id {upload_id!r} is not valid")
    return app_dir(home, tenant_id) / "uploads" / f"{upload_id}.jsonl"


def results_path(home: Path, tenant_id: str, job_id: str) -> Path:
    return app_dir(home, tenant_id) / "results" / f"{job_id}.jsonl"


def save_upload(home: Path, tenant_id: str, upload_id: str, notes: list[Note]) -> Path:
    path = upload_path(home, tenant_id, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in notes), encoding="utf-8")
    return path


def _complete_lines(path: Path) -> int:
    """How many complete lines ``path`` holds; a torn last line is cut off."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(keep)
    return data[:keep].count(b"\n")


@contextmanager
def exclusive(path: Path, job: JobContext, poll_s: float = 0.2) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively for this delivery; give up (``LeaseLost``) if the job stops being ours."""
    with open(path.with_suffix(".lock"), "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if job.is_cancelled:
                    raise LeaseLost(job.job_id) from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def extract_file_job(job: JobContext) -> None:
    """Payload ``{"upload", "mode", "labels"}``; result ``{"num_notes", "num_entities", "num_llm_dropped"}``."""
    ctx = job.app_context
    home = Path(ctx.settings.home)
    upload = job.payload.get("upload")
    source = upload_path(home, job.tenant_id, str(upload))
    if not source.is_file():
        raise FailJob(f"upload {upload!r} not found")
    notes = [Note(**json.loads(line)) for line in source.read_text(encoding="utf-8").splitlines()]
    target = results_path(home, job.tenant_id, job.job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(target, job):
        _extract_rest(job, notes, target)
    summary = _summary(target)
    with job.complete(summary):
        pass  # the results file is the effect; the job row records that it is complete


def _extract_rest(job: JobContext, notes: list[Note], target: Path) -> None:
    """Append the results of the notes after the file's complete lines, a batch at a time."""
    ctx = job.app_context
    done = _complete_lines(target)
    job.progress(done, len(notes))
    extractor = get_extractor(ctx.services, ctx.model)
    mode, labels = job.payload.get("mode", "model"), job.payload.get("labels")
    while done < len(notes):
        batch = notes[done : done + BATCH_NOTES]
        try:
            extractions = extractor.extract_many([n.text for n in batch], mode=mode, labels=labels)
        except UserError as exc:
            raise FailJob(str(exc)) from None
        lines = "".join(
            json.dumps({"id": n.id, "text": n.text, "entities": [e.as_dict() for e in x.entities], "num_llm_dropped": x.num_llm_dropped}) + "\n"
            for n, x in zip(batch, extractions)
        )
        if job.is_cancelled:  # taken over or cancelled while this batch ran: the new delivery writes it
            raise LeaseLost(job.job_id)
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        done += len(batch)
        job.progress(done, len(notes))  # raises LeaseLost once the job is no longer ours: no more appends


def _summary(path: Path) -> dict[str, Any]:
    num_notes = num_entities = dropped = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            num_notes += 1
            num_entities += len(record["entities"])
            dropped += record.get("num_llm_dropped", 0)
    return {"num_notes": num_notes, "num_entities": num_entities, "num_llm_dropped": dropped}
