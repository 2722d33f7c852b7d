"""``JobWorker``: a Huey consumer for a ``JobQueue`` plus the upkeep thread (heartbeat and reaper).

Two ways to run it: ``start()`` inside a process that owns its own signals (the API, ``moesaic
ingest``, tests), or ``run_forever()`` as the main loop of ``moesaic worker``, where Huey's consumer
handles the signals: SIGINT waits for running handlers (long ones such as ingestion hand their jobs
back), SIGTERM stops at once and hands running jobs back to the queue without counting the attempt.

This module does not decide what a job does (``queue``) or hold any state that must survive it: a
worker killed with SIGKILL loses nothing, its jobs' leases run out and the reaper of any live
worker requeues them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from huey.consumer import Consumer

from moesaic.jobs.broker import describe
from moesaic.jobs.queue import JobQueue

log = logging.getLogger(__name__)


class _Consumer(Consumer):  # type: ignore[misc]
    """Huey's consumer; a stop first tells running handlers, an embedded one leaves signals alone."""

    def __init__(self, queue: JobQueue, *, embedded: bool, **options: Any) -> None:
        self._queue = queue
        self._embedded = embedded
        super().__init__(queue.broker, **options)

    def _set_signal_handlers(self) -> None:
        if not self._embedded:
            super()._set_signal_handlers()

    def stop(self, graceful: bool = False) -> None:
        self._queue.stopping.set()
        super().stop(graceful=graceful)


class JobWorker:
    """Consumer threads running handlers, and one thread renewing leases and reaping."""

    def __init__(self, queue: JobQueue, concurrency: int = 2, *, shutdown_timeout: float = 30.0) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.shutdown_timeout = shutdown_timeout
        self._done = threading.Event()
        self._upkeep: threading.Thread | None = None
        self._consumer: _Consumer | None = None

    def _create_consumer(self, *, embedded: bool) -> _Consumer:
        poll = self.queue.config.poll_seconds
        return _Consumer(
            self.queue, embedded=embedded, workers=self.concurrency, periodic=False, initial_delay=poll,
            backoff=1.0, max_delay=poll, scheduler_interval=1, shutdown_timeout=self.shutdown_timeout,
        )

    def start(self) -> None:
        """Run in background threads of this process (returns at once)."""
        self.queue.stopping.clear()
        self._consumer = self._create_consumer(embedded=True)
        self._consumer.start()
        self._start_upkeep()

    def stop(self, timeout: float | None = None) -> None:
        """Let running handlers finish or hand back their jobs, then stop every thread."""
        if self._consumer is not None:
            self._consumer.shutdown_timeout = self.shutdown_timeout if timeout is None else timeout
            self._consumer.stop(graceful=True)
            self._consumer = None
        self._stop_upkeep()
        self.queue.hand_back()  # handlers that outlived the timeout

    def run_forever(self) -> None:
        """The main loop of ``moesaic worker``: returns after SIGINT or SIGTERM."""
        consumer = self._create_consumer(embedded=False)
        log.info("job worker on %s with %d handler threads; jobs: %s", describe(self.queue.broker),
                 self.concurrency, ", ".join(self.queue.names) or "none")
        self._start_upkeep()
        try:
            consumer.run()
        finally:
            self._stop_upkeep()
            handed_back = self.queue.hand_back()  # SIGTERM does not wait for running handlers
            if handed_back:
                log.info("handed %d running jobs back to the queue", handed_back)

    def _start_upkeep(self) -> None:
        self._done.clear()
        self._upkeep = threading.Thread(target=self._upkeep_loop, name="moesaic-jobs-upkeep", daemon=True)
        self._upkeep.start()

    def _stop_upkeep(self) -> None:
        self._done.set()
        if self._upkeep is not None:
            self._upkeep.join(10)
            self._upkeep = None

    def _upkeep_loop(self) -> None:
        config = self.queue.config
        interval = min(config.heartbeat_interval, config.reap_seconds)
        last_reap = 0.0
        while not self._done.is_set():
            try:
                self.queue.heartbeat()
                if time.monotonic() - last_reap >= config.reap_seconds:
                    last_reap = time.monotonic()
                    self.queue.reap()
                    self.queue.run_chores()
            except Exception:  # database briefly unavailable: keep the thread alive
                log.exception("job heartbeat or reaper failed")
            self._done.wait(interval)
