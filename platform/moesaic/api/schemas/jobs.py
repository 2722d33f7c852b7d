"""Bodies of the job routes: one job, a list of jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from moesaic.api.schemas.common import ResponseModel

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobProgress(ResponseModel):
    done: int
    total: int | None = Field(description="Null while the job does not know its size yet.")


class JobOut(ResponseModel):
    id: str
    object: Literal["job"]
    app: str = Field(description="The app that owns the job; 'platform' for the core's jobs (ingestion).")
    kind: str
    state: JobState
    progress: JobProgress
    payload: dict[str, Any]
    result: Any = Field(description="What the handler returned (succeeded jobs).")
    error: str | None
    attempts: int
    max_attempts: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    next_attempt_at: str | None = Field(description="When a queued job is due (retries back off).")


class JobList(ResponseModel):
    object: Literal["list"]
    data: list[JobOut]
