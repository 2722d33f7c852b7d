"""`LLM`: the engine's front door. It tokenizes, hands sequences to the scheduler, runs steps through the
model runner, applies stop conditions and detokenizes. Offline use calls `generate`; the server drives
`add_request` / `step` from one background thread."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from moesaic.engine.block_manager import BlockManager
from moesaic.engine.config import EngineConfig, ModelConfig
from moesaic.engine.runner import ModelRunner
from moesaic.engine.sampling_params import SamplingParams
from moesaic.engine.scheduler import ScheduledBatch, Scheduler
from moesaic.engine.sequence import Sequence, SequenceStatus
from moesaic.engine.tokenizer import Tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ContextLengthError(ValueError):
    """The prompt (plus at least one new token) does not fit the model's context."""

    def __init__(self, num_tokens: int, limit: int) -> None:
        super().__init__(
            f"prompt has {num_tokens} tokens; this model's context is {limit} tokens "
            f"(prompt must be at most {limit - 1})"
        )
        self.num_tokens = num_tokens
        self.limit = limit


@dataclass
class GenerationOutput:
    prompt_token_ids: list[int]
    token_ids: list[int]
    text: str
    finish_reason: str | None
    num_cached_tokens: int = 0


@dataclass
class EngineStats:
    num_generated_tokens: int = 0
    num_prompt_tokens: int = 0
    started: float = field(default_factory=time.monotonic)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; valid: {tuple(DTYPES)}")
    return DTYPES[dtype]


class LLM:
    def __init__(
        self,
        model_dir: str | Path,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        load_format: str = "safetensors",
        **engine_kwargs: Any,
    ) -> None:
        if load_format not in ("safetensors", "dummy"):
            raise ValueError(f"load_format={load_format!r}; valid: ('safetensors', 'dummy')")
        self.model_dir = Path(model_dir)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'")
        self.dtype = resolve_dtype(dtype, self.device)
        self.model_config = ModelConfig.from_dir(self.model_dir)
        self.config = EngineConfig(**engine_kwargs)
        self.max_model_len = min(
            self.config.max_model_len or self.model_config.max_position_embeddings,
            self.model_config.max_position_embeddings,
        )
        self.tokenizer = Tokenizer(self.model_dir) if (self.model_dir / "tokenizer.json").is_file() else None
        self.runner = ModelRunner(
            self.model_config,
            self.config,
            None if load_format == "dummy" else self.model_dir,
            self.device,
            self.dtype,
            self.max_model_len,
        )
        self.block_manager = BlockManager(self.runner.num_blocks, self.config.block_size, self.config.enable_prefix_caching)
        self.scheduler = Scheduler(self.config, self.block_manager, self.max_model_len)
        eos = set(self.model_config.eos_token_ids)
        if self.tokenizer is not None and self.tokenizer.eos_token_id is not None:
            eos.add(self.tokenizer.eos_token_id)
        self.eos_token_ids = frozenset(eos)
        self.stats = EngineStats()

    # ------------------------------------------------------------------ requests
    def encode_prompt(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError(f"text prompts need tokenizer.json in {self.model_dir}; pass token ids instead")
            return self.tokenizer.encode(prompt, add_special_tokens=True)
        return [int(t) for t in prompt]

    def add_request(self, prompt: str | list[int], params: SamplingParams | None = None) -> Sequence:
        params = params or SamplingParams()
        token_ids = self.encode_prompt(prompt)
        if len(token_ids) >= self.max_model_len:
            raise ContextLengthError(len(token_ids), self.max_model_len)
        bad = [t for t in token_ids if not 0 <= t < self.model_config.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary [0, {self.model_config.vocab_size})")
        seq = Sequence(token_ids, params)
        self.scheduler.add(seq)
        self.stats.num_prompt_tokens += len(token_ids)
        return seq

    def abort(self, seq: Sequence) -> None:
        self.scheduler.abort(seq)

    def has_unfinished(self) -> bool:
        return self.scheduler.has_work()

    # ------------------------------------------------------------------ stepping
    def step(self) -> list[Sequence]:
        """Run one scheduled batch; return the sequences that received tokens (some now finished).

        A pure decode batch with nobody waiting runs several decode steps in one go (`decode_steps`), so
        the host reads tokens once per run instead of once per token; a sequence may then receive several
        tokens in one call."""
        batch = self.scheduler.schedule()
        if batch is None:
            if self.scheduler.has_work():
                raise RuntimeError("the scheduler cannot place any waiting sequence: the KV cache is too small")
            return []
        steps = self._decode_run_length(batch)
        if steps > 1:
            return self._run_decode_steps(batch, steps)
        sampled_seqs = [s for i, s in enumerate(batch.seqs) if batch.samples(i)]
        tokens = self.runner.run(batch)
        self.scheduler.finish_step(batch)
        for seq, token in zip(sampled_seqs, tokens):
            self._accept(seq, token)
        return sampled_seqs

    def _decode_run_length(self, batch: ScheduledBatch) -> int:
        """How many decode steps this batch may run before the scheduler looks again (1 = just this one)."""
        if batch.is_prefill or self.config.decode_steps <= 1 or self.scheduler.waiting:
            return 1
        seqs = batch.seqs
        if any(s.params.repetition_penalty != 1.0 for s in seqs):
            return 1  # the penalty reads the token history on the host
        longest = max(s.params.max_tokens - s.num_output_tokens for s in seqs)
        room = min(self.max_model_len - len(s) for s in seqs) + 1
        return self.scheduler.extend_decode(batch, min(self.config.decode_steps, longest, room))

    def _run_decode_steps(self, batch: ScheduledBatch, steps: int) -> list[Sequence]:
        for tokens in self.runner.run_decode_steps(batch, steps):
            alive = [(s, t) for s, t in zip(batch.seqs, tokens) if s.status == SequenceStatus.RUNNING]
            if not alive:
                break
            self.scheduler.finish_step(batch)  # skips the sequences that stopped earlier in the run
            for seq, token in alive:  # tokens after a sequence stopped are dropped
                self._accept(seq, token)
        return list(batch.seqs)

    def _accept(self, seq: Sequence, token: int) -> None:
        seq.token_ids.append(token)
        self.stats.num_generated_tokens += 1
        self._check_stop(seq, token)

    def _check_stop(self, seq: Sequence, token: int) -> None:
        params = seq.params
        n_out = seq.num_output_tokens
        if params.stop and self.tokenizer is not None:
            text = self.tokenizer.decode(seq.output_token_ids)
            hits = [text.find(s) for s in params.stop if s and s in text]
            if hits:
                seq.stop_text = text[: min(hits)]
                self.scheduler.finish(seq, "stop")
                return
        if n_out >= params.min_tokens and (
            token in params.stop_token_ids or (not params.ignore_eos and token in self.eos_token_ids)
        ):
            self.scheduler.finish(seq, "stop")
        elif n_out >= params.max_tokens or len(seq) >= self.max_model_len:
            self.scheduler.finish(seq, "length")

    def output_text(self, seq: Sequence) -> str:
        if seq.stop_text is not None:  # may be empty: the stop string started the output
            return seq.stop_text
        if self.tokenizer is None:
            return ""
        return self.tokenizer.decode(seq.output_token_ids)

    def to_output(self, seq: Sequence) -> GenerationOutput:
        return GenerationOutput(
            prompt_token_ids=seq.token_ids[: seq.num_prompt_tokens],
            token_ids=seq.output_token_ids,
            text=self.output_text(seq),
            finish_reason=seq.finish_reason,
            num_cached_tokens=seq.num_cached_prompt_tokens,
        )

    def generate(
        self,
        prompts: list[str | list[int]] | str | list[int],
        params: SamplingParams | list[SamplingParams] | None = None,
    ) -> list[GenerationOutput]:
        batch: list[str | list[int]]
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            batch = [prompts]  # type: ignore[list-item]
        else:
            batch = list(prompts)  # type: ignore[arg-type]
        param_list = params if isinstance(params, list) else [params or SamplingParams()] * len(batch)
        if len(param_list) != len(batch):
            raise ValueError(f"{len(param_list)} SamplingParams for {len(batch)} prompts")
        seqs = [self.add_request(p, sp) for p, sp in zip(batch, param_list)]
        while any(not s.is_finished for s in seqs):
            self.step()
        return [self.to_output(s) for s in seqs]
