"""Sentence-level citations: which sentence of each cited passage an answer rests on.

An answer cites passages with markers like ``[2]``. For each marker, the words written before it
(back to the previous marker or line start) are the claim; the sentence of passage 2 that shares the
most content words with the claim is the cited sentence, with its offsets in the source document.
This works the same for the offline extractive model (which quotes sentences verbatim) and for a
language model. It does not decide which passages are cited (``used_citations`` does).
"""

from __future__ import annotations

import re
from dataclasses import replace

from moesaic.llm.extractive import content_words
from moesaic.sentences import split_sentences
from moesaic.types import Chunk, Citation, SentenceSpan

CITATION_MARK_PATTERN = r"\[(\d{1,3})\]"


def claims_by_index(answer: str) -> dict[int, list[str]]:
    """Passage number -> the pieces of the answer that cite it."""
    claims: dict[int, list[str]] = {}
    cut, previous_claim = 0, ""
    for match in re.finditer(CITATION_MARK_PATTERN, answer):
        line_start = answer.rfind("\n", 0, match.start()) + 1
        claim = answer[max(cut, line_start) : match.start()].strip()
        claim = claim or (previous_claim if max(cut, line_start) == cut else "")  # "[1][2]": same claim
        claims.setdefault(int(match.group(1)), []).append(claim)
        cut, previous_claim = match.end(), claim
    return claims


def best_sentence(claim: str, passage: Chunk) -> SentenceSpan | None:
    wanted = content_words(claim)
    if not wanted:
        return None
    best, best_overlap = None, 0
    for sentence in split_sentences(passage.text):
        overlap = len(wanted & content_words(sentence.text))
        if overlap > best_overlap:
            best, best_overlap = sentence, overlap
    if best is None:
        return None
    return SentenceSpan(passage.start_char + best.start, passage.start_char + best.end, best.text)


def cite_sentences(answer: str, citations: list[Citation], passages: list[Chunk]) -> list[Citation]:
    """``citations`` with the sentences the answer's markers rest on, in document order."""
    claims = claims_by_index(answer)
    out = []
    for citation in citations:
        if not 1 <= citation.index <= len(passages):
            out.append(citation)
            continue
        passage = passages[citation.index - 1]
        spans = {span for claim in claims.get(citation.index, []) if (span := best_sentence(claim, passage))}
        out.append(replace(citation, sentences=tuple(sorted(spans, key=lambda s: s.start_char))))
    return out
