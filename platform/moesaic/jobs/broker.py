"""The Huey instance that carries job messages: a SQLite file in MOESAIC_HOME, or Redis.

Huey is the only broker; this module only chooses and configures it. A message is just
"run job <id>": everything that must survive a crash lives in the ``jobs`` table.
"""

from __future__ import annotations

from typing import TypeAlias

from huey import Huey, RedisHuey, SqliteHuey

from moesaic.config import Settings

Broker: TypeAlias = Huey  # the rest of the package names the broker through this module


def create_broker(settings: Settings) -> Broker:
    """RedisHuey when ``MOESAIC_REDIS_URL`` is set, else SqliteHuey in ``MOESAIC_HOME/jobs.db``.

    The queue name (``MOESAIC_JOBS_QUEUE``) keeps several platforms on one Redis apart."""
    if settings.redis_url:
        return RedisHuey(name=settings.jobs_queue, url=settings.redis_url, results=False, read_timeout=1)
    settings.home.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=settings.jobs_queue, filename=str(settings.jobs_path.resolve()), results=False, timeout=30)


def describe(broker: Broker) -> str:
    """``redis:<queue>`` or ``sqlite:<file>``, for logs and the CLI."""
    storage = broker.storage
    if isinstance(broker, RedisHuey):
        return f"redis:{storage.name}"
    return f"sqlite:{getattr(storage, 'filename', '?')}"
