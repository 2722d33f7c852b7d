"""The optional reranking stage: a small interface and an LLM-backed implementation.

A reranker rescores the fused candidates of one query. ``LLMReranker`` asks a generative model for
0-10 relevance grades; it takes a plain ``complete(prompt) -> str`` callable so it works with any
chat model the platform configures and is testable with a scripted one. It is used only when the
caller passes one to ``KnowledgeService``; without a model, search skips this stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

RERANK_PROMPT = """Rate how well each passage answers the query, from 0 (unrelated) to 10 (answers it fully).
Reply with one line per passage, exactly "<number>: <grade>", and nothing else.

Query: {query}

{passages}"""


class Reranker(Protocol):
    def score(self, query: str, passages: list[str]) -> list[float]:
        """One relevance score per passage, higher is better."""
        ...


class LLMReranker:
    def __init__(self, complete: Callable[[str], str], *, max_chars: int = 700) -> None:
        self._complete = complete
        self.max_chars = max_chars

    def score(self, query: str, passages: list[str]) -> list[float]:
        listing = "\n\n".join(f"[{i}] {p[: self.max_chars]}" for i, p in enumerate(passages, start=1))
        reply = self._complete(RERANK_PROMPT.format(query=query, passages=listing))
        grades = [0.0] * len(passages)
        for match in re.finditer(r"\[?(\d+)\]?\s*[:=-]\s*(\d+(?:\.\d+)?)", reply):
            index = int(match.group(1)) - 1
            if 0 <= index < len(passages):
                grades[index] = float(match.group(2))
        # keep the fused order among equal grades (stable) and when the model replied nothing usable
        return [grade - i * 1e-6 for i, grade in enumerate(grades)]
