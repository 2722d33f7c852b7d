"""Rate limits per principal (API key or console session): a 429 with ``Retry-After`` over the limit.

Two budgets per minute, both configurable: every authenticated request (``MOESAIC_RATE_LIMIT_PER_MINUTE``)
and chat turns (``MOESAIC_RATE_LIMIT_CHAT_PER_MINUTE``, which also count toward the first). 0 turns a budget
off. Counting is a fixed one-minute window per principal: in this process's memory, or in Redis when
``MOESAIC_REDIS_URL`` is set, so several API processes share one count. A Redis that does not answer lets
requests through (logged): an outage of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from moesaic.config import Settings
from moesaic.errors import UserError

log = logging.getLogger(__name__)
WINDOW_S = 60
CHAT_PATHS = ("/v1/chat/completions",)


class RateLimited(UserError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Counter(Protocol):
    def hit(self, key: str, window: int) -> int:
        """Count one request under ``key`` in minute ``window``; return the count so far."""
        ...


class MemoryCounter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window: int) -> int:
        with self._lock:
            if len(self._counts) > 10_000:  # drop finished windows
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            count = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = count
            return count


class RedisCounter:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix

    def hit(self, key: str, window: int) -> int:
        name = f"{self.prefix}:ratelimit:{key}:{window}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_S * 2)
        count, _ = pipe.execute()
        return int(count)


class RateLimiter:
    def __init__(self, per_minute: int, chat_per_minute: int, counter: Counter) -> None:
        self.per_minute = per_minute
        self.chat_per_minute = chat_per_minute
        self.counter = counter

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimiter":
        counter: Counter = RedisCounter(settings.redis_url, settings.jobs_queue) if settings.redis_url else MemoryCounter()
        return cls(settings.rate_limit_per_minute, settings.rate_limit_chat_per_minute, counter)

    @property
    def in_memory(self) -> bool:
        """Whether counting is a dictionary update in this process (cheap enough for the event loop)."""
        return isinstance(self.counter, MemoryCounter)

    def check(self, principal_id: str, path: str) -> None:
        """Count this request; raise ``RateLimited`` when it is over a budget."""
        now = time.time()
        window = int(now // WINDOW_S)
        retry_after = max(1, int((window + 1) * WINDOW_S - now + 0.999))
        budgets = [("all", self.per_minute, "MOESAIC_RATE_LIMIT_PER_MINUTE", "requests")]
        if path in CHAT_PATHS:
            budgets.append(("chat", self.chat_per_minute, "MOESAIC_RATE_LIMIT_CHAT_PER_MINUTE", "chat requests"))
        for scope, limit, setting, what in budgets:
            if limit <= 0:
                continue
            try:
                count = self.counter.hit(f"{principal_id}:{scope}", window)
            except Exception as exc:  # the limiter's store is down: let the request through
                log.warning("rate limiter unavailable (%s: %s); request let through", type(exc).__name__, exc)
                return
            if count > limit:
                raise RateLimited(f"rate limit reached: {limit} {what} per minute for this key ({setting}); "
                                  f"retry in {retry_after} s", retry_after)


def limiter_of(platform: Any) -> RateLimiter:
    """The platform's limiter, made on first use."""
    limiter = getattr(platform, "rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter.from_settings(platform.settings)
        platform.rate_limiter = limiter
    return limiter
