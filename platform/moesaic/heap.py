"""The long-lived part of a server's heap, kept out of the garbage collector's way."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Leave what start-up built (modules, models, the platform: about 650,000 objects) out of the garbage
    collector's passes from now on. Without it each full pass walked all of them: under 100 concurrent chats
    one pass held the interpreter for about 0.3 s and collections took 13% of the run (docs/BENCHMARKS.md).
    Once per process: frozen objects are never collected, so a process that starts many applications (the
    tests) freezes only what the first one built."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()


_heap_frozen = False
