"""LLM extraction: a prompt asking for problem/treatment/test entities as JSON, spans aligned back.

The model is any ``moesaic.llm.ChatModel``. Its reply must hold ``{"entities": [{"text", "label",
"assertion"?}]}`` (a code fence around it is tolerated). Each entity's text is aligned to the input:
first exactly (case-sensitive, then case-insensitive), then allowing different whitespace, then
fuzzily (``difflib`` ratio >= ``FUZZY_MIN_RATIO`` over word-aligned windows). Repeated mentions take
successive occurrences. Entities that align nowhere are dropped and counted; spans never leave the
input, so ``text == input[start:end]`` holds. ``merge_hybrid`` is the documented hybrid rule.
Long inputs are sent in chunks of whole sentences.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from moesaic.errors import UpstreamError, UserError
from moesaic.llm import ChatModel, ModelRequest
from moesaic.types import Message

from apps.medical_ner.assertion import STATUSES
from apps.medical_ner.entities import SpanTuple as Span
from apps.medical_ner.labels import LABELS

FUZZY_MIN_RATIO = 0.85
CHUNK_CHARS = 6000

SYSTEM_PROMPT = """You extract clinical entities from text, in the i2b2 2010 scheme.
Labels:
- problem: diseases, disorders, symptoms, findings, injuries
- treatment: drugs, chemicals, procedures, therapies, devices
- test: laboratory tests, imaging, examinations, measurements
For each entity also give its assertion: present, absent, possible, hypothetical, conditional, or
associated_with_someone_else (e.g. a family member's disease).
Copy each entity's text EXACTLY as it appears in the input (same spelling and case), once per mention.
Answer with JSON only, no prose:
{"entities": [{"text": "...", "label": "problem|treatment|test", "assertion": "present"}]}"""


def parse_reply(content: str) -> list[dict[str, Any]]:
    """The entity objects of a reply; an unreadable reply raises ``UpstreamError`` quoting its start."""
    body = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fence:
        body = fence.group(1).strip()
    if not body.startswith(("{", "[")):
        brace = body.find("{")
        body = body[brace:] if brace >= 0 else body
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise UpstreamError(f"the LLM did not answer with the JSON asked for: {content[:120]!r}") from None
    items = data.get("entities") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UpstreamError("the LLM's JSON has no 'entities' list")
    return [item for item in items if isinstance(item, dict)]


def _whitespace_pattern(needle: str) -> re.Pattern[str] | None:
    words = needle.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE) if words else None


def _fuzzy(text: str, needle: str) -> list[tuple[int, int]]:
    """Word-aligned windows of ``text`` close to ``needle`` (best first)."""
    needle_norm = " ".join(needle.lower().split())
    if len(needle_norm) < 4:
        return []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    size = len(needle.split())
    found = []
    for count in {max(1, size - 1), size, size + 1}:
        for i in range(len(words) - count + 1):
            start, end = words[i][0], words[i + count - 1][1]
            while end > start and not text[end - 1].isalnum() and not needle_norm[-1:] == text[end - 1]:
                end -= 1  # trailing punctuation the needle lacks
            while start < end and not text[start].isalnum() and not needle_norm[:1] == text[start]:
                start += 1
            candidate = " ".join(text[start:end].lower().split())
            ratio = difflib.SequenceMatcher(None, needle_norm, candidate).ratio()
            if ratio >= FUZZY_MIN_RATIO:
                found.append((-ratio, start, end))
    return [(s, e) for _, s, e in sorted(found)]


def align(text: str, needle: str, taken: set[tuple[int, int]]) -> tuple[int, int] | None:
    """Where ``needle`` sits in ``text``: the first occurrence not in ``taken``, trying exact, case-insensitive,
    whitespace-insensitive, then fuzzy matching."""
    needle = needle.strip()
    if not needle:
        return None
    seen: list[tuple[int, int]] = []
    for pattern in (re.compile(re.escape(needle)), re.compile(re.escape(needle), re.IGNORECASE), _whitespace_pattern(needle)):
        if pattern is None:
            continue
        candidates = [(m.start(), m.end()) for m in pattern.finditer(text)]
        free = [c for c in candidates if c not in taken]
        if free:
            return free[0]
        seen.extend(candidates)
    if seen:
        return seen[0]  # a mention repeated more often than the text holds it: the caller skips it
    free = [c for c in _fuzzy(text, needle) if c not in taken]
    return free[0] if free else None


def _chunks(text: str) -> list[tuple[int, str]]:
    if len(text) <= CHUNK_CHARS:
        return [(0, text)]
    from moesaic import split_sentences

    chunks: list[tuple[int, str]] = []
    start = end = 0
    for sentence in split_sentences(text):
        if sentence.end - start > CHUNK_CHARS and end > start:
            chunks.append((start, text[start:end]))
            start = sentence.start
        end = sentence.end
    if end > start:
        chunks.append((start, text[start:end]))
    return chunks


def extract_with_llm(model: ChatModel | None, text: str) -> tuple[list[Span], int]:
    """LLM entities of ``text`` as spans (source ``llm``), and how many could not be aligned."""
    if model is None or getattr(model, "name", "") == "extractive":
        raise UserError("mode 'llm' and 'hybrid' need a configured chat model (MOESAIC_LLM_BASE_URL); use mode 'model'", field="mode")
    spans: list[Span] = []
    dropped = 0
    for offset, chunk in _chunks(text):
        reply = model.generate(ModelRequest(messages=[Message(role="system", content=SYSTEM_PROMPT), Message(role="user", content=chunk)], temperature=0.0))
        taken: set[tuple[int, int]] = set()
        for item in parse_reply(reply.content):
            label = str(item.get("label", "")).strip().lower()
            mention = item.get("text")
            if label not in LABELS or not isinstance(mention, str):
                dropped += 1
                continue
            where = align(chunk, mention, taken)
            if where is None:
                dropped += 1
                continue
            if where in taken:
                continue
            taken.add(where)
            assertion = item.get("assertion")
            assertion = assertion if assertion in STATUSES else None
            spans.append((offset + where[0], offset + where[1], label, None, "llm", assertion))
    return spans, dropped


def merge_hybrid(model_spans: list[Span], llm_spans: list[Span]) -> list[Span]:
    """Hybrid rule: keep every model entity; add each LLM entity that overlaps no model entity."""
    merged = list(model_spans)
    for span in llm_spans:
        if not any(span[0] < other[1] and other[0] < span[1] for other in model_spans):
            merged.append(span)
    return merged
