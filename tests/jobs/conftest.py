"""Fixtures for job tests: a migrated database with the test app's effect table, an embedded queue,
and the helpers that put a queue on Redis (the ``redis_url`` fixture is in ``tests/conftest.py``) and
start ``moesaic worker`` subprocesses."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from moesaic.config import Settings
from moesaic.db import Database
from moesaic.jobs import JobConfig, JobQueue
from moesaic.jobs.tables import JobRecord
from tests.conftest import DATABASES, schema_database_url
from tests.jobs.jobs_app import APP, EFFECTS_DDL

REPO = Path(__file__).resolve().parents[2]
FAST = JobConfig(lease_seconds=2.0, reap_seconds=0.5, poll_seconds=0.05, backoff_seconds=0.2)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own (no other test's jobs are reaped or redelivered here)."""
    yield from schema_database_url(request, tmp_path, "jobs")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.session() as session:
        session.execute(text(EFFECTS_DDL))
    yield database
    database.dispose()


def make_queue(db: Database, settings: Settings, config: JobConfig = FAST) -> JobQueue:
    queue = JobQueue.from_settings(db, settings, config)
    for kind, handler in APP.jobs.items():
        queue.register(f"{APP.name}.{kind}", handler)
    return queue


@pytest.fixture
def queue(db: Database, settings: Settings) -> Iterator[JobQueue]:
    built = make_queue(db, settings)
    yield built
    built.stop()


def effects(db: Database) -> dict[str, int]:
    """Effect rows per job id."""
    with db.session() as session:
        rows = session.execute(text("SELECT job_id, count(*) FROM job_effects GROUP BY job_id")).all()
    return {job_id: int(n) for job_id, n in rows}


def states(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(JobRecord.state, func.count()).group_by(JobRecord.state)).all()
    return {state: int(n) for state, n in rows}


def redis_settings(settings: Settings, redis_url: str) -> Settings:
    """``settings`` on the Redis queue of the ``redis_url`` fixture (``<url>#<queue>``)."""
    url, _, name = redis_url.partition("#")
    return settings.model_copy(update={"redis_url": url, "jobs_queue": name})


def worker_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Environment for ``moesaic worker`` subprocesses that also loads the test app, through an
    entry point in a throw-away ``.dist-info`` folder on PYTHONPATH."""
    site = tmp_path / "site"
    dist = site / "moesaic_jobs_test-0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: moesaic-jobs-test\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[moesaic.apps]\n{APP.name} = tests.jobs.jobs_app:APP\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOESAIC_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(REPO), str(REPO / "platform")]),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        MOESAIC_HOME=str(settings.home),
        MOESAIC_DATABASE_URL=settings.resolved_database_url,
        MOESAIC_DATASETS_DIR=str(settings.datasets_dir),
    )
    if settings.redis_url:
        env.update(MOESAIC_REDIS_URL=settings.redis_url, MOESAIC_JOBS_QUEUE=settings.jobs_queue)
    return env


def worker_command(concurrency: int, module: str = "moesaic.cli") -> list[str]:
    """``moesaic worker``; ``module`` names another ``python -m`` entry of the same CLI (one that sets
    ``moesaic.cli.app_loader`` first, e.g. ``tests.apps.contract_app_moesaic``)."""
    return [sys.executable, "-m", module, "worker", "--concurrency", str(concurrency)]
