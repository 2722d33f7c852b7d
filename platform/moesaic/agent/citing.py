"""Sentence-level citations: which sentence of each cited passage an answer rests on.

An answer cites passages with markers like ``[2]``. For each marker, the words written before it
(back to the previous marker or line start) are the claim; the sentence of passage 2 that shares the
most content words with the claim is the cited sentence, with its offsets in the source document.
This works the same for the offline extractive model (which quotes sentences verbatim) and for a
language model. It does not decide which passages are cited (``used_citations`` does).

``CitationNumbering`` then makes the numbers dense: the passages an answer cites become [1], [2], ...
in order of first mention, in the text (streamed or whole) and in the citations alike.
"""

from __future__ import annotations

import re
from dataclasses import replace

from moesaic.llm.extractive import content_words
from moesaic.sentences import split_sentences
from moesaic.types import Chunk, Citation, SentenceSpan

CITATION_MARK_PATTERN = r"\[(\d{1,3})\]"
_PARTIAL_MARK = re.compile(r"\[\d{0,3}$")  # a marker that a later stream delta may complete


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


class CitationNumbering:
    """Renumbers the markers of passages ``1..num_sources`` densely, in order of first mention.

    ``push`` takes an answer piece by piece (a stream's deltas; a marker split between deltas is held
    back until it is whole) and returns the renumbered text; ``flush`` returns what is held back. The
    same text pushed in any pieces gets the same numbers, so a streamed answer and the stored one agree.
    Markers outside ``1..num_sources`` are left as they are.
    """

    def __init__(self, num_sources: int) -> None:
        self.num_sources = num_sources
        self.mapping: dict[int, int] = {}  # passage number -> its number in the answer
        self._held = ""

    def _renumber(self, match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= self.num_sources:
            return match.group(0)
        return f"[{self.mapping.setdefault(number, len(self.mapping) + 1)}]"

    def push(self, text: str) -> str:
        text = self._held + text
        partial = _PARTIAL_MARK.search(text)
        self._held = text[partial.start() :] if partial else ""
        ready = text[: partial.start()] if partial else text
        return re.sub(CITATION_MARK_PATTERN, self._renumber, ready)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def citations(self, citations: list[Citation]) -> list[Citation]:
        """``citations`` of the renumbered answer: the cited ones with their new numbers, in order.
        With no markers seen, they are returned unchanged."""
        if not self.mapping:
            return citations
        renumbered = [replace(c, index=self.mapping[c.index]) for c in citations if c.index in self.mapping]
        return sorted(renumbered, key=lambda c: c.index)


def renumber_citations(answer: str, citations: list[Citation], num_sources: int) -> tuple[str, list[Citation]]:
    """The answer and its citations with dense numbers: "[1] [2] [4]" becomes "[1] [2] [3]"."""
    numbering = CitationNumbering(num_sources)
    text = numbering.push(answer) + numbering.flush()
    return text, numbering.citations(citations)
