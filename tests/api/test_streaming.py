"""A streamed answer runs in one thread of its own (``moesaic.api.streaming``), not one thread hop per chunk."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator

import pytest

from moesaic.api.streaming import in_own_thread
from moesaic.heap import freeze_startup_heap


def collect(items: Iterator[str], *, take: int | None = None) -> list[str]:
    async def run() -> list[str]:
        out: list[str] = []
        stream = in_own_thread(items)
        try:
            async for item in stream:
                out.append(item)
                if take is not None and len(out) == take:
                    break
        finally:
            await stream.aclose()
        return out

    return asyncio.run(run())


def test_items_come_in_order_all_made_in_one_thread_off_the_event_loop() -> None:
    threads: list[int] = []

    def answer() -> Iterator[str]:
        for i in range(50):
            threads.append(threading.get_ident())
            yield f"piece {i}"

    assert collect(answer()) == [f"piece {i}" for i in range(50)]
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


def test_an_error_of_the_iterator_reaches_the_consumer_after_the_items_before_it() -> None:
    def answer() -> Iterator[str]:
        yield "first"
        raise ValueError("the model stopped")

    seen: list[str] = []

    async def run() -> None:
        async for item in in_own_thread(answer()):
            seen.append(item)

    with pytest.raises(ValueError, match="the model stopped"):
        asyncio.run(run())
    assert seen == ["first"]


def test_a_client_that_leaves_closes_the_iterator_so_its_finally_runs() -> None:
    closed = threading.Event()
    made: list[int] = []

    def answer() -> Iterator[str]:
        try:
            for i in range(1000):
                made.append(i)
                time.sleep(0.002)  # a slow upstream model
                yield str(i)
        finally:
            closed.set()  # where the chat route lets the conversation go

    assert collect(answer(), take=3) == ["0", "1", "2"]
    assert closed.wait(5), "the iterator was not closed after the client left"
    assert len(made) < 1000


def test_the_heap_is_frozen_once_per_process() -> None:
    freeze_startup_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    garbage = [[i] for i in range(1000)]  # tracked by the collector
    freeze_startup_heap()  # a second application in the same process freezes nothing more
    assert gc.get_freeze_count() == frozen
    del garbage


def test_a_client_gone_before_the_thread_starts_still_gets_the_iterators_finally_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The chat's stream lets its conversation go in a ``finally`` that covers its first chunk: the thread takes
    that chunk even when the client already left, so closing the generator runs the ``finally``."""
    from concurrent.futures import ThreadPoolExecutor

    import moesaic.api.streaming as streaming

    busy = threading.Event()
    closed = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(streaming, "STREAM_THREADS", pool)
    pool.submit(busy.wait, 10)  # every stream thread is taken: the next stream waits for one

    def answer() -> Iterator[str]:
        try:
            yield "role"
            yield "text"
        finally:
            closed.set()

    async def leave_early() -> None:
        stream = in_own_thread(answer())
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)  # the stream is queued for a thread
        first.cancel()  # the client goes away
        try:
            await first
        except asyncio.CancelledError:
            pass
        await stream.aclose()

    asyncio.run(leave_early())
    busy.set()
    assert closed.wait(5), "the iterator's finally never ran"
    pool.shutdown(wait=True)
