"""Extractive, query-focused summaries of a set of abstracts; every sentence cited.

Relevance is 0.7 x the rationale selector's probability for (query, sentence) + 0.3 x the share of the
query's words the sentence holds; sentences are picked by maximal
marginal relevance (``relevance_weight`` x relevance - (1 - weight) x the largest word overlap with a
sentence already picked), so near-duplicates across papers are left out. Picked sentences are grouped
by finding: a sentence joins the group of the picked sentence it overlaps most when that overlap is at
least ``group_overlap``, else opens a group. Each sentence carries its citation number, document and
exact offsets. With a chat model (``abstractive``), the model rewrites the picked sentences, keeping the
``[n]`` markers; markers outside the numbered sentences are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from apps.literature_analysis.bm25 import terms
from apps.literature_analysis.claimcheck import Scorer
from apps.literature_analysis.scope import ScopedAbstract


@dataclass(frozen=True)
class SummarySentence:
    citation: int
    abstract: ScopedAbstract
    index: int  # among the abstract's sentences
    relevance: float

    @property
    def span(self) -> Any:
        return self.abstract.spans[self.index]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def summarise(
    query: str, abstracts: Sequence[ScopedAbstract], scorer: Scorer, *, max_sentences: int = 6,
    relevance_weight: float = 0.7, min_relevance: float = 0.05, group_overlap: float = 0.12,
) -> list[list[SummarySentence]]:
    candidates = [(a, i) for a in abstracts for i in range(len(a.spans))]
    if not candidates:
        return []
    words = [set(terms(a.spans[i].text)) for a, i in candidates]
    wanted = set(terms(query))
    selector = [row[1] for row in scorer.probabilities([(query, a.spans[i].text) for a, i in candidates])]
    # the selector is sharp (trained on claims); the share of query words a sentence holds ranks the rest
    relevance = [0.7 * p + 0.3 * (len(wanted & w) / len(wanted) if wanted else 0.0) for p, w in zip(selector, words)]
    picked: list[int] = []
    remaining = [k for k in range(len(candidates)) if relevance[k] >= min_relevance]
    while remaining and len(picked) < max_sentences:
        def gain(k: int) -> float:
            redundancy = max((_overlap(words[k], words[p]) for p in picked), default=0.0)
            return relevance_weight * relevance[k] - (1 - relevance_weight) * redundancy

        best = max(remaining, key=lambda k: (gain(k), -k))
        picked.append(best)
        remaining.remove(best)
    groups: list[list[int]] = []
    for k in picked:
        scores = [(max(_overlap(words[k], words[m]) for m in group), g) for g, group in enumerate(groups)]
        best_overlap, best_group = max(scores, default=(0.0, -1))
        if best_overlap >= group_overlap:
            groups[best_group].append(k)
        else:
            groups.append([k])
    out: list[list[SummarySentence]] = []
    number = 0
    for group in groups:
        sentences = []
        for k in group:
            number += 1
            abstract, index = candidates[k]
            sentences.append(SummarySentence(number, abstract, index, float(relevance[k])))
        out.append(sentences)
    return out


def extractive_text(groups: Sequence[Sequence[SummarySentence]]) -> str:
    return "\n\n".join(" ".join(f"{s.span.text} [{s.citation}]" for s in group) for group in groups)


ABSTRACTIVE_PROMPT = """Summarise the numbered sentences from scientific abstracts for the question below, grouped by
finding. Every sentence you write must end with the number(s) of the sentence(s) it rests on, like [2].
Use only these sentences."""


def abstractive_text(model: Any, query: str, groups: Sequence[Sequence[SummarySentence]]) -> str:
    from moesaic.llm import ModelRequest
    from moesaic.types import Message

    numbered = "\n".join(f"[{s.citation}] {s.span.text}" for group in groups for s in group)
    reply = model.generate(ModelRequest(messages=[
        Message(role="system", content=ABSTRACTIVE_PROMPT),
        Message(role="user", content=f"Question: {query}\n\n{numbered}"),
    ], temperature=0.0))
    valid = {s.citation for group in groups for s in group}
    return re.sub(r"\[(\d{1,3})\]", lambda m: m.group(0) if int(m.group(1)) in valid else "", str(reply.content)).strip()
