"""The app's part of the data lifecycle (``AppManifest.erase`` and ``export``): its uploads and job results.

The app keeps no table: each batch job's notes live in ``<home>/medical_ner/<tenant>/uploads/<upload>.jsonl``
and its results in ``results/<job>.jsonl``, one note per line (``jobs``). Erasing a data subject removes
every note whose id or text names the email or customer id from both files, so a job that resumes later
still finds its results a prefix of its notes; a results file is rewritten under the job's lock (a running
job finishes first). Erasing a whole tenant removes its folder. The job rows themselves are the platform's.
The app keeps nothing per conversation (it has no chat).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from moesaic.apps import AppContext, Erasure
from moesaic.errors import Conflict

from apps.medical_ner.jobs import app_dir

LOCK_WAIT_S = 10.0


def erase(ctx: AppContext, erasure: Erasure) -> dict[str, int]:
    """Remove a data subject's notes, or the whole tenant's files; {kind: how many}."""
    if erasure.conversation_ids:
        return {}
    folder = app_dir(Path(ctx.settings.home), erasure.tenant_id)
    if not folder.is_dir():
        return {}
    if erasure.whole_tenant:
        files = sum(1 for path in folder.rglob("*.jsonl"))
        shutil.rmtree(folder)
        return {"medical_ner_files": files} if files else {}
    patterns = [_pattern(n) for n in (erasure.email, erasure.customer_id) if n and n.strip()]
    if not patterns:
        return {}
    uploads = sum(_rewrite(path, patterns) for path in sorted((folder / "uploads").glob("*.jsonl")))
    results = 0
    for path in sorted((folder / "results").glob("*.jsonl")):
        with _locked(path):
            results += _rewrite(path, patterns)
    removed = {"medical_ner_upload_notes": uploads, "medical_ner_result_notes": results}
    return {name: count for name, count in removed.items() if count}


def export(ctx: AppContext, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """The tenant's uploaded notes and job results, one row per note with its file's name."""
    folder = app_dir(Path(ctx.settings.home), tenant_id)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in ("uploads", "results"):
        rows = []
        for path in sorted((folder / kind).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rows.append({"file": path.name, **json.loads(line)})
        if rows:
            out[f"medical_ner_{kind}"] = rows
    return out


def _pattern(needle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@.+-]){re.escape(needle.strip())}(?![\w@-])", re.I)


def _names_subject(line: str, patterns: list[re.Pattern[str]]) -> bool:
    try:
        note = json.loads(line)
    except json.JSONDecodeError:  # a torn last line of a killed job: the job drops it itself
        return False
    fields = f"{note.get('id', '')}\n{note.get('text', '')}"
    return any(p.search(fields) for p in patterns)


def _rewrite(path: Path, patterns: list[re.Pattern[str]]) -> int:
    """Drop the lines of notes that name the subject (atomically); how many went."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [line for line in lines if not _names_subject(line, patterns)]
    if len(keep) == len(lines):
        return 0
    scratch = path.with_suffix(".erasing")
    scratch.write_text("".join(keep), encoding="utf-8")
    os.replace(scratch, path)
    return len(lines) - len(keep)


class _locked:
    """Hold the results file's job lock (``jobs.exclusive``), waiting a while for a running job."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        self.handle = open(self.path.with_suffix(".lock"), "a+b")
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.handle.close()
                    raise Conflict(f"an extraction job is still writing the results of job {self.path.stem}; "
                                   "retry the erasure when it has finished", field="email") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
