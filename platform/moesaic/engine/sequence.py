"""A request as the scheduler sees it: its tokens, its block table and how much of it the cache holds."""

from __future__ import annotations

import itertools
from enum import Enum, auto

from moesaic.engine.sampling_params import SamplingParams

_ids = itertools.count()


class SequenceStatus(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


class Sequence:
    def __init__(self, token_ids: list[int], params: SamplingParams) -> None:
        if not token_ids:
            raise ValueError("a prompt must have at least one token")
        self.seq_id = next(_ids)
        self.token_ids = list(token_ids)
        self.num_prompt_tokens = len(token_ids)
        self.params = params
        self.status = SequenceStatus.WAITING
        self.block_table: list[int] = []
        self.num_computed_tokens = 0  # tokens whose latents are in the cache
        self.num_cached_prompt_tokens = 0  # prefix-cache hit at the last admission
        self.num_hashed_blocks = 0  # full blocks already registered for prefix caching
        self.finish_reason: str | None = None
        self.stop_text: str | None = None  # the output text cut before the stop string that ended it
        self.arrival_step = 0

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def num_uncomputed_tokens(self) -> int:
        return len(self.token_ids) - self.num_computed_tokens

    @property
    def is_finished(self) -> bool:
        return self.status == SequenceStatus.FINISHED

    def num_blocks(self, block_size: int) -> int:
        return (len(self.token_ids) + block_size - 1) // block_size

    def block_tokens(self, index: int, block_size: int) -> list[int]:
        return self.token_ids[index * block_size : (index + 1) * block_size]
