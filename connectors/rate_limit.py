"""A thread-safe token bucket: at most ``rate`` acquisitions per second, bursts of up to ``burst``.

With ``burst=1`` (the default) acquisitions are spaced at least ``1/rate`` seconds apart, so no
one-second window ever holds more than ``rate`` of them: what NCBI's "3 requests per second" asks.
``shared_limiter`` hands every client of the same service and key in a process the same bucket.

Not here: limits shared between processes (each worker process has its own bucket).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token (possibly going into debt); the seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may go; returns the seconds waited. Waiters are served in the
        order they arrived, since each reserves its slot before sleeping."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


_SHARED: dict[tuple[str, str, float], TokenBucket] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(service: str, key: str | None, rate: float) -> TokenBucket:
    """The process-wide bucket of ``service`` for ``key`` (None: no key) at ``rate`` per second."""
    with _SHARED_LOCK:
        return _SHARED.setdefault((service, key or "", float(rate)), TokenBucket(rate))
