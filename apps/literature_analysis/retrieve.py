"""The app's local retriever over a set of abstracts: BM25 and MiniLM dense search fused by reciprocal
rank, then (optionally) the trained cross-encoder reranker over the top candidates.

Used by the evaluations (the open SciFact setting: the whole corpus) and by claim checks over an
in-memory scope; documents in a platform knowledge base go through ``moesaic.retrieval`` instead.
Dense vectors can be cached in a file keyed by the corpus' content hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from apps.literature_analysis.bm25 import BM25
from apps.literature_analysis.data import Abstract
from apps.literature_analysis.encoder import PairScorer, collate, load_adapted_encoder, load_encoder, load_tokenizer, with_precision


def doc_text(doc: Abstract) -> str:
    return f"{doc.title}. {doc.text}" if doc.title else doc.text


class DenseEncoder:
    """MiniLM sentence embeddings (mean-pooled, normalised), as the platform's default embedder makes them."""

    def __init__(self, base_dir: Path | None = None, device: str = "cpu", max_tokens: int = 256, adapter: Path | None = None,
                 precision: str = "fp32") -> None:
        model: torch.nn.Module = load_adapted_encoder(adapter, base_dir)[0] if adapter is not None else load_encoder(base_dir)
        self.model = with_precision(torch.nn.Module.to(model, device).eval(), precision)  # ``adapter``: the MiniLM fine-tuned on the training claims
        self.name = f"{adapter.stem}-{hashlib.sha256(adapter.read_bytes()).hexdigest()[:8]}" if adapter is not None else "minilm"
        self.tokenizer = load_tokenizer(base_dir)
        self.device, self.max_tokens = device, max_tokens

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.pooled(texts, batch_size).float().cpu().numpy()

    def pooled(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Normalised mean-pooled vectors (with gradients when called outside inference mode)."""
        encoded = []
        for text in texts:
            ids = self.tokenizer.encode(text, add_special_tokens=False).ids[: self.max_tokens - 2]
            full = [101, *ids, 102]
            encoded.append((full, [0] * len(full)))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        parts, positions = [], []
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            parts.append(mean_pooled(self.model, collate([encoded[i] for i in batch], self.device)))
            positions.extend(batch)
        stacked = torch.cat(parts) if parts else torch.zeros((0, int(getattr(self.model, "config").hidden_size)))
        out = torch.empty_like(stacked)
        out[torch.tensor(positions, dtype=torch.long, device=stacked.device)] = stacked
        return out


def mean_pooled(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    hidden = model(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0), dim=-1)


def corpus_key(docs: Sequence[Abstract]) -> str:
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(doc.doc_id.encode() + b"\0" + doc_text(doc).encode() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float


class LocalRetriever:
    def __init__(
        self,
        docs: Sequence[Abstract],
        dense: DenseEncoder | None = None,
        reranker: PairScorer | None = None,
        cache_dir: Path | None = None,
        rrf_k: int = 60,
        candidates: int = 100,
        rerank_top: int = 30,
    ) -> None:
        self.docs = list(docs)
        self.bm25 = BM25([doc_text(d) for d in self.docs])
        self.dense, self.reranker = dense, reranker
        self.rrf_k, self.candidates, self.rerank_top = rrf_k, candidates, rerank_top
        self.vectors: np.ndarray | None = None
        if dense is not None:
            cache = cache_dir / f"dense-{dense.name}-{corpus_key(self.docs)}.npy" if cache_dir else None
            if cache is not None and cache.exists():
                self.vectors = np.load(cache)
            else:
                self.vectors = dense.embed([doc_text(d) for d in self.docs])
                if cache is not None:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    np.save(cache, self.vectors)

    def fused(self, query: str) -> list[Hit]:
        """BM25 and dense candidates fused by reciprocal rank (dense left out when no encoder is loaded)."""
        rankings = [np.argsort(-self.bm25.scores(query), kind="stable")[: self.candidates]]
        if self.dense is not None and self.vectors is not None:
            rankings.append(np.argsort(-(self.vectors @ self.dense.embed([query])[0]), kind="stable")[: self.candidates])
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, index in enumerate(ranking.tolist()):
                fused[index] = fused.get(index, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        return [Hit(self.docs[i].doc_id, fused[i]) for i in order]

    def search(self, query: str, top_k: int = 10) -> list[Hit]:
        hits = self.fused(query)
        if self.reranker is None:
            return hits[:top_k]
        head = hits[: self.rerank_top]
        by_id = {d.doc_id: d for d in self.docs}
        probabilities = self.reranker.probabilities([(query, doc_text(by_id[h.doc_id])) for h in head])
        reranked = sorted((Hit(h.doc_id, p[1]) for h, p in zip(head, probabilities)), key=lambda h: -h.score)
        return (reranked + hits[self.rerank_top :])[:top_k]
