"""Paged latent-cache bookkeeping: fixed-size blocks, reference counts and prefix caching.

A full block is identified by a hash chained over all tokens up to its end, so two sequences share a block
only when their whole prefixes agree. Freed blocks keep their hash until reused (least recently freed
first), so a later request can still hit them. This module never touches tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from moesaic.engine.sequence import Sequence


def chain_hash(prev: int, tokens: list[int]) -> int:
    return hash((prev, tuple(tokens)))


@dataclass
class Block:
    block_id: int
    ref_count: int = 0
    hash: int | None = None
    token_ids: list[int] = field(default_factory=list)


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int, enable_prefix_caching: bool = True) -> None:
        self.block_size = block_size
        self.enable_prefix_caching = enable_prefix_caching
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free: OrderedDict[int, None] = OrderedDict((i, None) for i in range(num_blocks))
        self.hash_to_block: dict[int, int] = {}
        self.num_prefix_queries = 0  # prompt blocks looked up
        self.num_prefix_hits = 0

    # ------------------------------------------------------------------ accounting
    @property
    def num_free_blocks(self) -> int:
        return len(self.free)

    @property
    def num_used_blocks(self) -> int:
        return len(self.blocks) - len(self.free)

    @property
    def prefix_hit_rate(self) -> float:
        return self.num_prefix_hits / self.num_prefix_queries if self.num_prefix_queries else 0.0

    def _take_free(self) -> Block:
        block_id, _ = self.free.popitem(last=False)
        block = self.blocks[block_id]
        if block.hash is not None and self.hash_to_block.get(block.hash) == block_id:
            del self.hash_to_block[block.hash]
        block.hash, block.token_ids, block.ref_count = None, [], 1
        return block

    def _prefix_hits(self, seq: Sequence) -> list[int]:
        """Cached block ids for the longest cached prefix; never the block holding the last token."""
        if not self.enable_prefix_caching:
            return []
        hits, prev = [], 0
        for index in range((len(seq) - 1) // self.block_size):
            tokens = seq.block_tokens(index, self.block_size)
            prev = chain_hash(prev, tokens)
            block_id = self.hash_to_block.get(prev)
            if block_id is None or self.blocks[block_id].token_ids != tokens:
                break
            hits.append(block_id)
        return hits

    # ------------------------------------------------------------------ admission
    def can_allocate(self, seq: Sequence) -> bool:
        hits = self._prefix_hits(seq)
        reusable_free = sum(1 for b in hits if self.blocks[b].ref_count == 0)
        return seq.num_blocks(self.block_size) - len(hits) + reusable_free <= self.num_free_blocks

    def allocate(self, seq: Sequence) -> None:
        assert not seq.block_table, "sequence already holds blocks"
        hits = self._prefix_hits(seq)
        self.num_prefix_queries += (len(seq) - 1) // self.block_size if self.enable_prefix_caching else 0
        self.num_prefix_hits += len(hits)
        for block_id in hits:
            block = self.blocks[block_id]
            if block.ref_count == 0:
                del self.free[block_id]
            block.ref_count += 1
            seq.block_table.append(block_id)
        for _ in range(seq.num_blocks(self.block_size) - len(hits)):
            seq.block_table.append(self._take_free().block_id)
        seq.num_computed_tokens = len(hits) * self.block_size
        seq.num_cached_prompt_tokens = seq.num_computed_tokens
        seq.num_hashed_blocks = len(hits)

    def deallocate(self, seq: Sequence) -> None:
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            if block.ref_count == 0:
                self.free[block_id] = None
        seq.block_table = []
        seq.num_computed_tokens = 0
        seq.num_hashed_blocks = 0

    # ------------------------------------------------------------------ decode growth
    def can_append(self, seq: Sequence) -> bool:
        return len(seq.block_table) >= seq.num_blocks(self.block_size) or self.num_free_blocks >= 1

    def append(self, seq: Sequence) -> None:
        """Make room for every token of `seq` (called before a step computes its last token)."""
        self.reserve(seq, len(seq))

    def blocks_to_hold(self, seq: Sequence, num_tokens: int) -> int:
        """Blocks `seq` still needs so that its cache can hold `num_tokens` tokens."""
        return max(0, (num_tokens + self.block_size - 1) // self.block_size - len(seq.block_table))

    def reserve(self, seq: Sequence, num_tokens: int) -> None:
        """Grow `seq`'s block table to hold `num_tokens` tokens (tokens a multi-step decode run will write)."""
        for _ in range(self.blocks_to_hold(seq, num_tokens)):
            seq.block_table.append(self._take_free().block_id)

    def commit(self, seq: Sequence) -> None:
        """Register the blocks that became full and computed, so later requests can reuse them."""
        if not self.enable_prefix_caching:
            return
        full = seq.num_computed_tokens // self.block_size
        prev = self.blocks[seq.block_table[seq.num_hashed_blocks - 1]].hash if seq.num_hashed_blocks else 0
        for index in range(seq.num_hashed_blocks, full):
            tokens = seq.block_tokens(index, self.block_size)
            assert prev is not None, "hash chain broken"
            prev = chain_hash(prev, tokens)
            block = self.blocks[seq.block_table[index]]
            block.hash, block.token_ids = prev, tokens
            self.hash_to_block[prev] = block.block_id
        seq.num_hashed_blocks = max(seq.num_hashed_blocks, full)
