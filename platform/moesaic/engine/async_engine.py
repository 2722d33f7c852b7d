"""Runs the `LLM` step loop in one background thread so concurrent requests batch together.

Request handlers (on the asyncio loop) call `submit`, which returns an asyncio.Queue of `Delta`s; the
thread pushes each new token into it with `call_soon_threadsafe`. No web framework is imported here."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

from moesaic.engine.llm_engine import LLM
from moesaic.engine.sampling_params import SamplingParams
from moesaic.engine.sequence import Sequence


@dataclass
class Delta:
    token_ids: list[int]
    finished: bool = False
    finish_reason: str | None = None
    text: str | None = None  # final text (stop strings applied), set when finished
    num_prompt_tokens: int = 0
    num_cached_tokens: int = 0
    error: str | None = None


@dataclass
class _Request:
    token_ids: list[int]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue[Delta]
    seq: Sequence | None = None
    cancelled: bool = False
    sent: int = 0  # output tokens already pushed


class AsyncEngine:
    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self._inbox: queue.Queue[_Request] = queue.Queue()
        self._active: dict[int, _Request] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._window: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="moesaic-engine", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ handler side
    def submit(self, token_ids: list[int], params: SamplingParams) -> _Request:
        request = _Request(token_ids, params, asyncio.get_running_loop(), asyncio.Queue())
        self._inbox.put(request)
        self._wake.set()
        return request

    def cancel(self, request: _Request) -> None:
        request.cancelled = True
        self._wake.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def tokens_per_second(self, window_s: float = 10.0) -> float:
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0][0] > window_s:
                self._window.popleft()
            total = sum(n for _, n in self._window)
        return total / window_s

    # ------------------------------------------------------------------ engine thread
    def _push(self, request: _Request, delta: Delta) -> None:
        request.loop.call_soon_threadsafe(request.out.put_nowait, delta)

    def _admit(self) -> None:
        while True:
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                request.seq = self.llm.add_request(request.token_ids, request.params)
            except ValueError as exc:
                self._push(request, Delta([], finished=True, finish_reason="error", error=str(exc)))
                continue
            self._active[request.seq.seq_id] = request

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._admit()
            for seq_id, request in list(self._active.items()):
                if request.cancelled and request.seq is not None:
                    self.llm.abort(request.seq)
                    del self._active[seq_id]
            if not self.llm.has_unfinished():
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            try:
                updated = self.llm.step()
            except Exception as exc:  # surface engine failures to every waiting request
                for request in self._active.values():
                    self._push(request, Delta([], finished=True, finish_reason="error", error=repr(exc)))
                self._active.clear()
                raise
            new_tokens = 0
            for seq in updated:
                owner = self._active.get(seq.seq_id)
                if owner is None:
                    continue
                fresh = seq.output_token_ids[owner.sent :]  # a multi-step run can add several
                owner.sent += len(fresh)
                new_tokens += len(fresh)
                delta = Delta(fresh, num_prompt_tokens=seq.num_prompt_tokens)
                if seq.is_finished:
                    delta.finished, delta.finish_reason = True, seq.finish_reason
                    delta.text = self.llm.output_text(seq)
                    delta.num_cached_tokens = seq.num_cached_prompt_tokens
                    del self._active[seq.seq_id]
                self._push(owner, delta)
            with self._lock:
                self._window.append((time.monotonic(), new_tokens))
