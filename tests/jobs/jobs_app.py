"""A test app with job handlers, loaded in-process and by ``moesaic worker`` subprocesses (through a
throw-away entry point, see ``conftest.worker_env``).

Its one effect is a row in ``job_effects`` (created by the tests, no unique constraint), written the
way the idempotency rule says: inside ``ctx.complete(...)``, so it commits with the job's success.
Counting rows per job proves the effect applied exactly once.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import text

from apps.kb_assistant.manifest import APP as _KB
from moesaic.apps import AppManifest
from moesaic.jobs import FailJob, JobContext, RetryJob

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS job_effects (job_id VARCHAR(32) NOT NULL, pid INTEGER NOT NULL)"
ATTEMPT_LOG: dict[str, list[float]] = {}  # job id -> monotonic time of each attempt (in-process tests)


def apply_effect(ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds`` in steps (reporting progress), then write the effect with the success."""
    steps = int(ctx.payload.get("steps", 1))
    for step in range(steps):
        time.sleep(float(ctx.payload.get("seconds", 0.0)) / steps)
        ctx.progress(step + 1, steps)
    with ctx.complete({"n": ctx.payload.get("n"), "pid": os.getpid()}) as session:
        session.execute(text("INSERT INTO job_effects (job_id, pid) VALUES (:job_id, :pid)"),
                        {"job_id": ctx.job_id, "pid": os.getpid()})
    return {"ignored": True}  # complete() already recorded the result


def flaky(ctx: JobContext) -> str:
    """Fails until attempt ``succeed_on``; ``permanent`` fails at once."""
    ATTEMPT_LOG.setdefault(ctx.job_id, []).append(time.monotonic())
    if ctx.payload.get("permanent"):
        raise FailJob("the payload names no such record")
    if ctx.attempt < int(ctx.payload.get("succeed_on", 99)):
        raise RuntimeError(f"transient failure on attempt {ctx.attempt}")
    return f"ok on attempt {ctx.attempt}"


def polite_retry(ctx: JobContext) -> str:
    ATTEMPT_LOG.setdefault(ctx.job_id, []).append(time.monotonic())
    if ctx.attempt == 1:
        raise RetryJob("upstream said come back later", delay_seconds=0.0)
    return "done"


APP = AppManifest(
    name="jobs_test",
    title="Jobs test app",
    system_prompt=_KB.system_prompt,
    knowledge_base=None,
    jobs={"effect": apply_effect, "flaky": flaky, "polite": polite_retry},
)
