"""Acceptance measurement for the job queue: N jobs queued on Redis, two `moesaic worker` processes,
one killed with SIGKILL while it runs jobs; every job must end succeeded with its effect applied
exactly once. Prints the time from the workers' start to the last job done.

    .venv/bin/python bench/jobs_kill.py [--jobs 200 --seconds 0.2 --concurrency 2]
        [--redis redis://127.0.0.1:6379/0] [--database-url postgresql+psycopg://...]

Each job sleeps ``--seconds`` in four steps (reporting progress) and then writes one row to
``job_effects`` in the transaction that marks it succeeded. The default database is a fresh SQLite
file; the Redis queue gets a unique name and its keys are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "platform")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from tests.jobs.jobs_app import EFFECTS_DDL  # noqa: E402
from tests.jobs.kill_scenario import run_kill_scenario  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=0.2, help="work per job")
    parser.add_argument("--concurrency", type=int, default=2, help="handler threads per worker")
    parser.add_argument("--lease", type=float, default=2.0, help="MOESAIC_JOB_LEASE_SECONDS for the workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (a fresh schema is used); default SQLite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="moesaic-jobs-kill-"))
    queue_name = f"moesaic_bench_{secrets.token_hex(6)}"
    url, schema, admin = f"sqlite:///{work / 'moesaic.db'}", None, None
    if args.database_url:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(args.database_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{args.database_url}{'&' if '?' in args.database_url else '?'}options=-csearch_path%3D{schema}"
    settings = Settings(home=work / "home", database_url=url, redis_url=args.redis, jobs_queue=queue_name)
    db = Database(url)
    db.migrate()
    with db.session() as session:
        session.execute(text(EFFECTS_DDL))
    try:
        report = run_kill_scenario(db, settings, work, num_jobs=args.jobs, seconds_per_job=args.seconds,
                                   concurrency=args.concurrency, lease_seconds=args.lease, timeout=600)
    finally:
        db.dispose()
        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(match=f"huey.*{queue_name}*"):
            client.delete(key)
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    ok = report.states == {"succeeded": args.jobs} and report.effects_per_job == {1: args.jobs}
    print(json.dumps({
        "jobs": args.jobs, "seconds_per_job": args.seconds, "workers": 2, "threads_per_worker": args.concurrency,
        "database": "postgresql" if args.database_url else "sqlite", "lease_seconds": args.lease,
        "wall_seconds": round(report.seconds, 2), "states": report.states,
        "effects_per_job": report.effects_per_job, "killed_while_holding": len(report.held_by_killed),
        "attempts_of_those": report.attempts_of_held,
        "effects_by_worker": {"killed": report.effects_by_pid.get(report.killed_pid, 0),
                              "survivor": report.effects_by_pid.get(report.survivor_pid, 0)},
        "ok": ok,
    }, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
