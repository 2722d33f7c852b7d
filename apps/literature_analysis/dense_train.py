"""Fine-tune the MiniLM retriever on the training claims: contrastive (InfoNCE over in-batch negatives
plus one retrieved hard negative per claim), LoRA adapters only. The artefact is the adapters alone
(``encoder.save_cross_encoder`` of a bare encoder); ``retrieve.DenseEncoder(adapter=...)`` uses it.
Needs only torch, transformers, peft, tokenizers.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch

from apps.literature_analysis.data import Abstract, Claim
from apps.literature_analysis.encoder import ModelConfig, add_lora, collate, load_encoder, load_tokenizer
from apps.literature_analysis.retrieve import doc_text, mean_pooled


def _encode(tokenizer: object, texts: Sequence[str], max_tokens: int) -> list[tuple[list[int], list[int]]]:
    out = []
    for text in texts:
        ids = [101, *getattr(tokenizer, "encode")(text, add_special_tokens=False).ids[: max_tokens - 2], 102]
        out.append((ids, [0] * len(ids)))
    return out


def train_dense(
    fit: Sequence[Claim], corpus: dict[str, Abstract], negatives: dict[int, list[str]], config: object, device: str, base_dir: object = None
) -> tuple[torch.nn.Module, ModelConfig]:
    seed = int(getattr(config, "seed"))
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model_config = ModelConfig(task="dense", classes=(), lora_rank=int(getattr(config, "lora_rank")), lora_alpha=int(getattr(config, "lora_alpha")),
                               max_tokens=int(getattr(config, "max_tokens")), extra={"temperature": 0.05})
    tokenizer = load_tokenizer(base_dir)  # type: ignore[arg-type]
    encoder = add_lora(load_encoder(base_dir), model_config).to(device)  # type: ignore[arg-type]
    examples = [(c, d) for c in fit for d in c.cited_doc_ids if d in corpus]
    batch_size, epochs = int(getattr(config, "batch_size")), int(getattr(config, "epochs"))
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=float(getattr(config, "learning_rate")), weight_decay=0.01)
    steps = epochs * ((len(examples) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min((s + 1) / max(1, steps // 10), max(0.0, (steps - s) / steps)))
    encoder.train()
    for epoch in range(epochs):
        rng.shuffle(examples)
        total = 0.0
        for start in range(0, len(examples), batch_size):
            batch, seen = [], set()
            for claim, doc_id in examples[start : start + batch_size]:
                if doc_id not in seen:  # a document twice in one batch would be its own false negative
                    batch.append((claim, doc_id))
                    seen.add(doc_id)
            hard = []
            for claim, _ in batch:
                pool = [d for d in negatives.get(claim.id, [])[2:20] if d not in seen]
                hard.append(rng.choice(pool) if pool else rng.choice(sorted(corpus)))
            queries = collate(_encode(tokenizer, [c.text for c, _ in batch], 64), device)
            docs = collate(_encode(tokenizer, [doc_text(corpus[d]) for _, d in batch] + [doc_text(corpus[d]) for d in hard], model_config.max_tokens), device)
            q, d = mean_pooled(encoder, queries), mean_pooled(encoder, docs)
            logits = q @ d.T / 0.05
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch), device=device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        print(f"[dense] epoch {epoch + 1}/{epochs} loss {total / len(examples):.4f}", flush=True)
    encoder.eval()
    return encoder, model_config
