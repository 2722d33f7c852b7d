"""Continuous batching: waiting and running queues, chunked prefill under a token budget, and preemption
(recompute) when the cache runs out of blocks. It decides what runs; it never runs the model."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from moesaic.engine.block_manager import BlockManager
from moesaic.engine.config import EngineConfig
from moesaic.engine.sequence import Sequence, SequenceStatus


@dataclass
class ScheduledBatch:
    seqs: list[Sequence]
    num_tokens: list[int]  # new tokens computed per sequence this step
    is_prefill: bool

    def samples(self, index: int) -> bool:
        """Whether this step reaches the end of sequence `index`, so its next token is sampled."""
        seq = self.seqs[index]
        return seq.num_computed_tokens + self.num_tokens[index] == len(seq)


class Scheduler:
    def __init__(self, config: EngineConfig, block_manager: BlockManager, max_model_len: int) -> None:
        self.config = config
        self.blocks = block_manager
        self.max_model_len = max_model_len
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> ScheduledBatch | None:
        batch = self._schedule_prefill()
        if batch is not None:
            return batch
        return self._schedule_decode()

    def _schedule_prefill(self) -> ScheduledBatch | None:
        budget = self.config.max_num_batched_tokens
        seqs: list[Sequence] = []
        num_tokens: list[int] = []
        # 1. running sequences still in (chunked) prefill
        for seq in self.running:
            if seq.num_uncomputed_tokens > 1 and budget > 0:
                n = min(seq.num_uncomputed_tokens, budget)
                seqs.append(seq)
                num_tokens.append(n)
                budget -= n
        # 2. admit waiting sequences while blocks and the budget allow
        while self.waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:
            seq = self.waiting[0]
            if not self.blocks.can_allocate(seq):
                break
            self.waiting.popleft()
            self.blocks.allocate(seq)
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            n = min(seq.num_uncomputed_tokens, budget)
            seqs.append(seq)
            num_tokens.append(n)
            budget -= n
        if not seqs:
            return None
        return ScheduledBatch(seqs, num_tokens, is_prefill=True)

    def _schedule_decode(self) -> ScheduledBatch | None:
        scheduled: list[Sequence] = []
        candidates = [s for s in self.running if s.num_uncomputed_tokens == 1]
        while candidates:
            seq = candidates.pop(0)
            while not self.blocks.can_append(seq):
                victim = candidates.pop() if candidates else seq
                self._preempt(victim)
                if victim is seq:
                    break
            else:
                self.blocks.append(seq)
                scheduled.append(seq)
        if not scheduled:
            return None
        return ScheduledBatch(scheduled, [1] * len(scheduled), is_prefill=False)

    def extend_decode(self, batch: ScheduledBatch, steps: int) -> int:
        """Reserve cache blocks so the decode batch can run `steps` steps without the scheduler (each step
        writes one more token per sequence). Returns the steps granted: `steps`, or 1 when blocks are short."""
        if steps <= 1:
            return 1
        need = sum(self.blocks.blocks_to_hold(seq, len(seq) + steps - 1) for seq in batch.seqs)
        if need > self.blocks.num_free_blocks:
            return 1
        for seq in batch.seqs:
            self.blocks.reserve(seq, len(seq) + steps - 1)
        return steps

    def _preempt(self, seq: Sequence) -> None:
        self.num_preemptions += 1
        self.blocks.deallocate(seq)
        seq.status = SequenceStatus.WAITING
        self.running.remove(seq)
        self.waiting.appendleft(seq)

    def finish_step(self, batch: ScheduledBatch) -> None:
        for seq, n in zip(batch.seqs, batch.num_tokens):
            if seq.status != SequenceStatus.RUNNING:
                continue
            seq.num_computed_tokens += n
            self.blocks.commit(seq)

    def finish(self, seq: Sequence, reason: str) -> None:
        seq.status = SequenceStatus.FINISHED
        seq.finish_reason = reason
        self.blocks.deallocate(seq)
        if seq in self.running:
            self.running.remove(seq)

    def abort(self, seq: Sequence) -> None:
        if seq in self.waiting:
            self.waiting.remove(seq)
            seq.status = SequenceStatus.FINISHED
            seq.finish_reason = "abort"
        elif seq.status == SequenceStatus.RUNNING:
            self.finish(seq, "abort")
