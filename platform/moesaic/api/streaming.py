"""A blocking iterator (the agent loop behind a streamed answer) run to its end in one thread of its own.

Starlette streams a plain iterator with one thread-pool hop per item; a streamed answer makes one item per
piece of text, so under load most of a turn's CPU went to the hops. ``in_own_thread`` runs the iterator in
one thread from ``STREAM_THREADS`` and hands each item to the event loop as it comes (no batching, so a
slow upstream model's tokens are not held back). When the client leaves, the thread stops at the next
item and closes the iterator there, so its ``finally`` blocks (letting the conversation go) run at once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
# one thread per streamed answer while it runs; apart from Starlette's pool, so streams waiting on a slow
# model never hold back the short requests that pool serves
STREAM_THREADS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="moesaic-stream")
_ITEM, _END, _ERROR = 0, 1, 2


async def in_own_thread(items: Iterator[T]) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    left = False  # set by the event loop when the client went away

    def hand_over(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed (the server stopped): nobody is listening
            pass

    def produce() -> None:
        try:
            for item in items:  # the first item is taken even when the client already left: a generator that
                hand_over(_ITEM, item)  # never started would run no ``finally`` when closed
                if left:
                    break
        except BaseException as exc:  # handed to the event loop, raised there
            hand_over(_ERROR, exc)
        else:
            hand_over(_END, None)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the generator's finally blocks run in this thread, now

    context = contextvars.copy_context()
    loop.run_in_executor(STREAM_THREADS, context.run, produce)
    try:
        while True:
            kind, value = await queue.get()
            if kind == _ITEM:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                break
    finally:
        left = True
