"""The answer cache inside one turn of the agent loop: look up before retrieval, keep the answer after.

``CachedTurn.begin`` decides whether the turn may use the cache (``moesaic.answers.bypass_reason``) and
looks the question up; a hit is served by ``serve`` (the answer is stored like any other, marked
``served_from`` in its metadata, with its citations); a miss is kept by ``keep`` once the loop has an answer
that no tool helped to write. Metrics: lookups per outcome, bypasses per reason, saved model time.
A failing cache (database, embedder) is logged and skipped: the model answers. This module calls no model
and decides nothing about what an answer says.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from moesaic.answers import AnswerCache, CacheHit, CacheScope, Lookup, ResolvedPolicy, bypass_reason
from moesaic.metrics import Metrics
from moesaic.types import Citation, SentenceSpan

log = logging.getLogger(__name__)


@dataclass
class CachedTurn:
    cache: AnswerCache
    scope: CacheScope
    lookup: Lookup
    question: str
    app: str
    metrics: Metrics | None
    started: float  # when the work a hit saves (retrieval, model) began

    @classmethod
    def begin(cls, cache: AnswerCache | None, policy: ResolvedPolicy, *, tenant_id: str, app: str, app_fingerprint: str,
              knowledge_base: str | None, question: str, num_earlier_messages: int, conversation_metadata: dict[str, Any],
              max_tokens: int | None, metrics: Metrics | None) -> "CachedTurn | None":
        """The turn's lookup, or None when the turn may not use the cache (counted per reason)."""
        if cache is None:
            return None
        reason = bypass_reason(question, num_earlier_messages=num_earlier_messages,
                               conversation_metadata=conversation_metadata, max_tokens=max_tokens)
        if reason is not None:
            if metrics:
                metrics.answer_cache_bypassed.labels(app, reason).inc()
            return None
        try:
            scope = cache.scope(tenant_id, app, knowledge_base, app_fingerprint, policy)
            lookup = cache.lookup(scope, question)
        except Exception:  # the cache saves time; a failing cache must not fail the turn: the model answers
            log.exception("answer cache lookup failed for app %s", app)
            if metrics:
                metrics.answer_cache_bypassed.labels(app, "error").inc()
            return None
        hit = lookup.hit
        if metrics:
            outcome = "miss" if hit is None else f"{'pinned' if hit.source == 'pinned_answer' else 'cache'}_{hit.match}"
            metrics.answer_cache_lookups.labels(app, outcome).inc()
            if hit is not None and hit.model_seconds:
                metrics.answer_cache_saved_seconds.labels(app).inc(hit.model_seconds)
        return cls(cache, scope, lookup, question, app, metrics, time.perf_counter())

    @property
    def hit(self) -> CacheHit | None:
        return self.lookup.hit

    def keep(self, answer: str, citations: list[Citation], conversation_id: str) -> None:
        """Keep a generated answer (the caller has checked that no tool and no conversation state shaped it)."""
        try:
            self.cache.remember(self.scope, self.lookup, self.question, answer, [c.to_dict() for c in citations],
                                conversation_id=conversation_id, model_seconds=time.perf_counter() - self.started)
        except Exception:  # the answer is stored and sent either way
            log.exception("answer cache write failed for app %s", self.app)


def citation_from_dict(data: dict[str, Any]) -> Citation:
    sentences = tuple(SentenceSpan(int(s["start_char"]), int(s["end_char"]), str(s["text"])) for s in data.get("sentences") or ())
    return Citation(index=int(data["index"]), document_id=str(data["document_id"]), chunk_id=str(data["chunk_id"]),
                    start_char=int(data["start_char"]), end_char=int(data["end_char"]), title=str(data.get("title", "")),
                    quote=str(data.get("quote", "")), sentences=sentences)
