"""The model runner: owns the model and the paged latent cache, packs a scheduled batch into tensors, runs
the forward pass (CUDA graphs for decode batch sizes on GPU) and samples. It makes no scheduling choices.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from moesaic.engine.attention import AttentionContext, VarlenBatch, flash_varlen_supported
from moesaic.engine.config import EngineConfig, ModelConfig
from moesaic.engine.kernels import grouped_mm_available
from moesaic.engine.loader import create_model, init_random_weights, load_weights
from moesaic.engine.model import ROUTER_FUSED_MAX_TOKENS, DeepseekForCausalLM, DeepseekMoE, Router, add_and_norm
from moesaic.engine.sampler import sample, sample_tensor
from moesaic.engine.scheduler import ScheduledBatch

log = logging.getLogger(__name__)

ACTIVATION_RESERVE_BYTES = 3 * 2**30


def _triton_shapes_ok(cfg: ModelConfig) -> bool:
    """The Triton decode kernel tiles the latent and rope dims as powers of two of at least 16."""
    return all(d >= 16 and d & (d - 1) == 0 for d in (cfg.kv_lora_rank, cfg.qk_rope_head_dim))


class ModelRunner:
    def __init__(
        self,
        model_config: ModelConfig,
        engine_config: EngineConfig,
        model_dir: str | Path | None,
        device: torch.device,
        dtype: torch.dtype,
        max_model_len: int,
    ) -> None:
        self.cfg = model_config
        self.config = engine_config
        self.device = device
        self.dtype = dtype
        self.block_size = engine_config.block_size
        self.max_model_len = max_model_len
        self.max_blocks_per_seq = (max_model_len + self.block_size - 1) // self.block_size
        self.model: DeepseekForCausalLM = create_model(model_config, device, dtype, max_model_len)
        if model_dir is None:
            init_random_weights(self.model)
        else:
            load_weights(self.model, model_dir)
        self.model.eval()
        is_cuda = device.type == "cuda"
        self.attention_backend = "triton" if is_cuda and _triton_shapes_ok(model_config) else "torch"
        self.experts_backend = "torch"
        if is_cuda and dtype == torch.bfloat16:
            self.experts_backend = engine_config.experts_backend or ("auto" if grouped_mm_available() else "triton")
        self.model.set_backends(self.attention_backend, self.experts_backend)
        if is_cuda:
            self._prepare_cuda_fast_paths()
        # Prefill steps: one packed FlashAttention call per layer instead of a loop over sequences.
        self.varlen_prefill = is_cuda and engine_config.varlen_prefill and flash_varlen_supported(
            dtype, model_config.qk_head_dim
        )
        self.num_blocks = self._num_kv_blocks()
        # One extra block at the end is scratch space for padded (graph) rows.
        self.kv_cache = torch.zeros(
            model_config.num_hidden_layers,
            self.num_blocks + 1,
            self.block_size,
            model_config.latent_dim,
            dtype=dtype,
            device=device,
        )  # [L, N + 1, block, r + rope]
        for layer, attn in enumerate(self.model.mla_layers()):
            attn.kv_cache = self.kv_cache[layer]
        self.scratch_slot = self.num_blocks * self.block_size
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        if is_cuda and engine_config.compile_decode:
            self.compile_decode_layers()
        if is_cuda and engine_config.use_cuda_graphs and self.experts_backend != "torch":
            self.capture_cuda_graphs()

    def _prepare_cuda_fast_paths(self) -> None:
        """One GEMM for the projections that read the layer input; one kernel for the MLA decode prologue; the
        Triton router (with the logits GEMV for a few tokens) where routing is ungrouped; shared experts
        folded into the expert kernels. Low precision only (fp32 runs stay on the
        torch reference)."""
        fast = self.dtype in (torch.bfloat16, torch.float16) and self.config.fuse_kernels
        if fast:
            for attn in self.model.mla_layers():
                attn.fuse_input_projections()
                attn.fused_decode_prologue = self.attention_backend == "triton"
        grouped = self.cfg.uses_group_limited_routing
        for module in self.model.modules():
            if isinstance(module, Router):
                module.use_kernel = fast and not grouped
                if module.use_kernel:
                    module.arrivals = torch.zeros(ROUTER_FUSED_MAX_TOKENS, dtype=torch.int32, device=self.device)
            if isinstance(module, DeepseekMoE) and fast and self.experts_backend != "torch":
                module.fuse_shared_experts()

    def compile_decode_layers(self) -> None:
        """Regional torch.compile of the decoder layer for decode (one compilation shared by all layers):
        fuses the norms, rope, router and activation glue between the GEMMs and the custom kernels."""
        for attn in self.model.mla_layers():
            attn.absorbed_weights()  # materialise cached weights before tracing
        for module in self.model.modules():
            if isinstance(module, Router) and module.weight.dtype != torch.float32:
                module.weight_fp32()
        self.model.model.compiled_final_norm = torch.compile(add_and_norm, dynamic=True)
        for layer in self.model.decoder_layers():
            layer.compiled_decode = torch.compile(layer.layer_forward, dynamic=True)
            if self.config.compile_prefill:
                layer.compiled_pre = torch.compile(layer.pre_attention, dynamic=True)
                layer.compiled_post = torch.compile(layer.post_attention, dynamic=True)
        if self.config.compile_prefill:
            self._warm_prefill()

    @torch.inference_mode()
    def _warm_prefill(self) -> None:
        """Compile the prefill pieces now (two lengths, so the token dimension is traced as dynamic)."""
        scratch = torch.tensor([[self.num_blocks]], dtype=torch.int32, device=self.device)
        for length in sorted({min(7, self.block_size), min(13, self.block_size)}):
            ctx = AttentionContext(
                is_prefill=True,
                slot_mapping=torch.full((length,), self.scratch_slot, dtype=torch.int64, device=self.device),
                context_lens=torch.tensor([length], dtype=torch.int32, device=self.device),
                block_tables=scratch,
                query_lens=[length],
                context_lens_host=[length],
            )
            ids = torch.zeros(length, dtype=torch.int64, device=self.device)
            self.model(ids, torch.arange(length, device=self.device), ctx)

    # ------------------------------------------------------------------ cache sizing
    def bytes_per_block(self) -> int:
        element = torch.empty(0, dtype=self.dtype).element_size()
        return self.cfg.num_hidden_layers * self.block_size * self.cfg.latent_dim * element

    def _num_kv_blocks(self) -> int:
        if self.config.num_kv_blocks is not None:
            return self.config.num_kv_blocks
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info(self.device)
            used_by_others = total - free
            budget = total * self.config.gpu_memory_utilization - used_by_others - ACTIVATION_RESERVE_BYTES
        else:
            budget = self.config.cpu_kv_cache_bytes
        num = int(budget // self.bytes_per_block())
        if num < self.max_blocks_per_seq:
            raise ValueError(
                f"KV cache of {num} blocks cannot hold one sequence of max_model_len={self.max_model_len}; "
                "lower max_model_len or raise gpu_memory_utilization / cpu_kv_cache_bytes"
            )
        return num

    # ------------------------------------------------------------------ packing
    def _slot(self, seq_blocks: list[int], pos: int) -> int:
        return seq_blocks[pos // self.block_size] * self.block_size + pos % self.block_size

    def _tensor(self, data: list[int] | list[list[int]], dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(data, dtype=dtype, device=self.device)

    def _block_tables(self, batch: ScheduledBatch, width: int) -> list[list[int]]:
        return [s.block_table + [self.num_blocks] * (width - len(s.block_table)) for s in batch.seqs]

    def prepare(self, batch: ScheduledBatch) -> tuple[torch.Tensor, torch.Tensor, AttentionContext, list[int]]:
        input_ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        context_lens: list[int] = []
        sample_rows: list[int] = []
        for i, (seq, n) in enumerate(zip(batch.seqs, batch.num_tokens)):
            start = seq.num_computed_tokens
            input_ids.extend(seq.token_ids[start : start + n])
            positions.extend(range(start, start + n))
            slots.extend(self._slot(seq.block_table, p) for p in range(start, start + n))
            context_lens.append(start + n)
            if batch.samples(i):
                sample_rows.append(len(input_ids) - 1)
        width = max(len(s.block_table) for s in batch.seqs)
        ctx = AttentionContext(
            is_prefill=batch.is_prefill,
            slot_mapping=self._tensor(slots, torch.int64),
            context_lens=self._tensor(context_lens, torch.int32),
            block_tables=self._tensor(self._block_tables(batch, width), torch.int32),
            query_lens=list(batch.num_tokens) if batch.is_prefill else None,
            context_lens_host=context_lens if batch.is_prefill else None,
        )
        if batch.is_prefill and self.varlen_prefill:
            ctx.varlen = VarlenBatch.build(list(batch.num_tokens), context_lens, ctx.block_tables, self.block_size)
        return self._tensor(input_ids, torch.int64), self._tensor(positions, torch.int64), ctx, sample_rows

    # ------------------------------------------------------------------ execution
    @torch.inference_mode()
    def run(self, batch: ScheduledBatch) -> list[int]:
        """Run one step; return the sampled token for each sequence that reaches its end (in batch order)."""
        if self.graphs and sum(batch.num_tokens) <= max(self.graphs):
            # Decode, and any prefill of few tokens (a prefix-cache hit, a short prompt): every new token is
            # one row of a decode batch with its own causal context length, replayed through a CUDA graph.
            logits = self._replay_graph(batch)
        else:
            input_ids, positions, ctx, rows = self.prepare(batch)
            hidden = self.model(input_ids, positions, ctx)
            logits = self.model.logits(hidden[rows])  # [S, V]
        sampled_seqs = [s for i, s in enumerate(batch.seqs) if batch.samples(i)]
        if not sampled_seqs:
            return []
        return sample(logits, sampled_seqs)

    @torch.inference_mode()
    def run_decode_steps(self, batch: ScheduledBatch, steps: int) -> list[list[int]]:
        """Run `steps` decode steps back to back without returning to the scheduler: each step's sampled
        tokens feed the next step on the device, and the host reads all of them once at the end. Returns
        one list of tokens (in batch order) per step. The caller reserved cache blocks for every step and
        discards tokens after a sequence stops. Sampling must not depend on host-side token history."""
        seqs = batch.seqs
        rows = len(seqs)
        out: list[torch.Tensor] = []
        if self.graphs and rows <= max(self.graphs):
            bs, _ = self._load_graph_rows(batch)
            for step in range(steps):
                self.graphs[bs].replay()
                tokens = sample_tensor(self.g_logits[bs][:rows], seqs, offset=step)
                out.append(tokens)
                if step + 1 < steps:
                    self.g_input_ids[:rows].copy_(tokens)
                    self.g_positions[:rows] += 1
                    self.g_context_lens[:rows] += 1
            return torch.stack(out).tolist()
        width = max(len(s.block_table) for s in seqs)
        tables = self._tensor(self._block_tables(batch, width), torch.int32)
        input_ids = self._tensor([s.token_ids[-1] for s in seqs], torch.int64)
        for step in range(steps):
            positions = [s.num_computed_tokens + step for s in seqs]
            ctx = AttentionContext(
                is_prefill=False,
                slot_mapping=self._tensor([self._slot(s.block_table, p) for s, p in zip(seqs, positions)], torch.int64),
                context_lens=self._tensor([p + 1 for p in positions], torch.int32),
                block_tables=tables,
            )
            hidden = self.model(input_ids, self._tensor(positions, torch.int64), ctx)
            input_ids = sample_tensor(self.model.logits(hidden), seqs, offset=step)
            out.append(input_ids)
        return torch.stack(out).tolist()

    # ------------------------------------------------------------------ CUDA graphs
    def graph_batch_sizes(self) -> list[int]:
        top = min(self.config.max_graph_batch_size, self.config.max_num_seqs)
        sizes = [1, 2, 4, 8] + list(range(16, top + 1, 16))
        return sorted({s for s in sizes if s <= top} | {top})

    def _graph_forward(self, bs: int) -> torch.Tensor:
        """The captured step: cache slots come from positions and block tables on the device, so a
        multi-step run only advances positions and lengths between replays."""
        positions = self.g_positions[:bs]
        tables = self.g_block_tables[:bs]
        blocks = tables.gather(1, (positions // self.block_size)[:, None])[:, 0].long()
        slots = blocks * self.block_size + positions % self.block_size
        ctx = AttentionContext(False, slots, self.g_context_lens[:bs], tables)
        return self.model.logits(self.model(self.g_input_ids[:bs], positions, ctx))

    def capture_cuda_graphs(self) -> None:
        sizes = self.graph_batch_sizes()
        top = sizes[-1]
        self.g_input_ids = torch.zeros(top, dtype=torch.int64, device=self.device)
        self.g_positions = torch.zeros(top, dtype=torch.int64, device=self.device)
        self.g_context_lens = torch.ones(top, dtype=torch.int32, device=self.device)
        self.g_block_tables = torch.full(
            (top, self.max_blocks_per_seq), self.num_blocks, dtype=torch.int32, device=self.device
        )
        self.g_logits: dict[int, torch.Tensor] = {}
        pool = None
        for bs in reversed(sizes):
            with torch.inference_mode():
                for _ in range(2):  # warm up (Triton compilation, cuBLAS handles)
                    self._graph_forward(bs)
                torch.cuda.synchronize()
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    out = self._graph_forward(bs)
            if pool is None:
                pool = graph.pool()
            self.graphs[bs] = graph
            self.g_logits[bs] = out
        torch.cuda.synchronize()
        log.info("captured CUDA graphs for decode batch sizes %s", sizes)

    def _load_graph_rows(self, batch: ScheduledBatch) -> tuple[int, list[int]]:
        """Fill the graph inputs with one row per new token (padded to a captured size); return that size
        and the rows to sample. Padding rows attend to one token of the scratch block."""
        ids: list[int] = []
        pos: list[int] = []
        lens: list[int] = []
        tables: list[list[int]] = []
        sample_rows: list[int] = []
        width = max(len(s.block_table) for s in batch.seqs)
        for i, (seq, n) in enumerate(zip(batch.seqs, batch.num_tokens)):
            table = seq.block_table + [self.num_blocks] * (width - len(seq.block_table))
            for p in range(seq.num_computed_tokens, seq.num_computed_tokens + n):
                ids.append(seq.token_ids[p])
                pos.append(p)
                lens.append(p + 1)
                tables.append(table)
            if batch.samples(i):
                sample_rows.append(len(ids) - 1)
        n_rows = len(ids)
        bs = next(s for s in sorted(self.graphs) if s >= n_rows)
        pad = bs - n_rows
        self.g_input_ids[:bs].copy_(self._tensor(ids + [0] * pad, torch.int64))
        self.g_positions[:bs].copy_(self._tensor(pos + [0] * pad, torch.int64))
        self.g_context_lens[:bs].copy_(self._tensor(lens + [1] * pad, torch.int32))
        # Only the first `width` columns are read (the kernel stops at each context length).
        tables += [[self.num_blocks] * width] * pad
        self.g_block_tables[:bs, :width].copy_(self._tensor(tables, torch.int32))
        return bs, sample_rows

    def _replay_graph(self, batch: ScheduledBatch) -> torch.Tensor:
        """Replay the graph with one row per new token; return the logits of the rows to sample."""
        bs, sample_rows = self._load_graph_rows(batch)
        self.graphs[bs].replay()
        return self.g_logits[bs][sample_rows]
