"""Jobs: named handlers run by Huey consumers, with the platform's ``jobs`` table as the record.

``JobQueue.enqueue(tenant_id, app, kind, payload)`` records a job and sends it; handlers registered
as ``"<app>.<kind>"`` receive a ``JobContext``. See ``context`` for the idempotency rule handlers
follow, ``queue`` for delivery, ``worker`` for the consumer process.
"""

from moesaic.jobs.context import CORE_APP, FailJob, JobContext, JobInfo, LeaseLost, ReleaseJob, RetryJob
from moesaic.jobs.queue import JobConfig, JobQueue
from moesaic.jobs.tables import JOB_STATES
from moesaic.jobs.worker import JobWorker

__all__ = [
    "CORE_APP",
    "JOB_STATES",
    "FailJob",
    "JobConfig",
    "JobContext",
    "JobInfo",
    "JobQueue",
    "JobWorker",
    "LeaseLost",
    "ReleaseJob",
    "RetryJob",
]
