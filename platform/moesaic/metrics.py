"""Prometheus metrics per app: requests, latency, tokens, tool calls, retrieval, ingestion, errors.

Each ``Metrics`` owns its registry, so several API instances (tests) never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("moesaic_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "moesaic_request_latency_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.chat_requests = Counter("moesaic_chat_requests", "Chat completions per app", ["app", "outcome"], registry=self.registry)
        self.chat_latency = Histogram(
            "moesaic_chat_latency_seconds", "Chat completion latency per app", ["app"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.tokens = Counter("moesaic_tokens", "Model tokens per app", ["app", "kind"], registry=self.registry)
        self.tool_calls = Counter("moesaic_tool_calls", "Tool calls per app", ["app", "tool", "outcome"], registry=self.registry)
        self.retrieval_latency = Histogram(
            "moesaic_retrieval_latency_seconds", "Retrieval latency per app", ["app"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.model_errors = Counter("moesaic_model_errors", "Failed model calls per app", ["app", "kind"], registry=self.registry)
        self.answer_cache_lookups = Counter(
            "moesaic_answer_cache_lookups", "Answer cache lookups per app: cache_exact, cache_near, pinned_exact, "
            "pinned_near (answered without a model call) or miss", ["app", "outcome"], registry=self.registry)
        self.answer_cache_bypassed = Counter(
            "moesaic_answer_cache_bypassed", "Turns that may not use the answer cache, per reason", ["app", "reason"],
            registry=self.registry)
        self.answer_cache_saved_seconds = Counter(
            "moesaic_answer_cache_saved_model_seconds", "Retrieval and model time the cached answers took when generated, "
            "summed over their hits", ["app"], registry=self.registry)
        self.ingestion_queue = Gauge("moesaic_ingestion_queue_depth", "Documents waiting to be indexed", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
