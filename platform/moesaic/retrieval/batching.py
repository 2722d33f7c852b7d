"""``QueryBatcher``: concurrent single-text embeddings gathered into one forward pass.

Under load many request threads each want one query vector at the same moment; one forward pass at a time
(the cores are shared) made them queue, one short pass each. Here a caller that finds the model free embeds
every text waiting at that moment (up to ``max_batch``) in one pass and hands each waiter its own row; the
others wait for their row or, when the pass that is running does not hold their text, take the next turn.
Nothing waits for a timer: alone, a query is embedded at once, as before. An error of a pass is raised in
every caller whose text it held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class _Request:
    text: str
    vector: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def answered(self) -> bool:
        return self.vector is not None or self.error is not None


class QueryBatcher:
    def __init__(self, embed_many: Callable[[list[str]], np.ndarray], max_batch: int = 64) -> None:
        self._embed_many = embed_many  # [N] texts -> [N, D] vectors
        self.max_batch = max_batch
        self._changed = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False
        self.passes = 0  # forward passes made (for tests and benchmarks)

    def embed(self, text: str) -> np.ndarray:
        request = _Request(text)
        with self._changed:
            self._waiting.append(request)
            while not request.answered:
                if self._running:
                    self._changed.wait()
                    continue
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                self._running = True
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
                    self._running = False
                    self._changed.notify_all()
        if request.error is not None:
            raise request.error
        assert request.vector is not None
        return request.vector

    def _run(self, batch: list[_Request]) -> None:
        try:
            vectors = self._embed_many([r.text for r in batch])
            self.passes += 1
        except BaseException as exc:  # every caller of this pass gets the error
            for r in batch:
                r.error = exc
            return
        for r, vector in zip(batch, vectors):
            r.vector = np.array(vector, dtype=np.float32)  # a copy: callers never share memory
