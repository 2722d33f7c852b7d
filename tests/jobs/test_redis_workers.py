"""Redis mode for real: two ``moesaic worker`` processes share one queue, one is killed with SIGKILL
while it runs jobs, and every job still ends succeeded with its effect applied exactly once."""

from __future__ import annotations

from pathlib import Path

from moesaic.config import Settings
from moesaic.db import Database
from tests.jobs.conftest import redis_settings
from tests.jobs.kill_scenario import run_kill_scenario


def test_two_redis_workers_finish_every_job_once_after_one_is_killed(
    db: Database, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    report = run_kill_scenario(db, redis_settings(settings, redis_url), tmp_path, num_jobs=20, seconds_per_job=0.4)
    assert report.states == {"succeeded": 20}
    assert report.effects_per_job == {1: 20}  # every job's effect, exactly once
    assert report.held_by_killed and set(report.attempts_of_held) == {2}  # redone by the survivor
    assert report.effects_by_pid[report.killed_pid] >= 1  # both workers took jobs off the queue
    assert report.effects_by_pid[report.survivor_pid] >= len(report.held_by_killed)
