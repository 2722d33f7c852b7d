"""Sentences with exact character offsets, from a maintained segmenter that knows abbreviations.

``split_sentences(text)`` returns spans whose ``text == source[start:end]`` (surrounding whitespace
trimmed). ``sentencex`` finds the boundaries ("e.g.", "Dr.", "p.m." do not end a sentence); a blank
line or a new Markdown list item or heading also ends one, since documents are not only prose.
This is the only module that imports ``sentencex``. It does not rank or cite (``agent.citing`` does); it sits outside ``retrieval`` so the model layer can use it without loading the vector store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentencex import get_sentence_boundaries

# a blank line, a line that starts a list item, heading, quote or table row, or the end of a heading line
_BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=[ \t]*(?:[-*+>|]|#{1,6}|\d+[.)])\s)|(?m:^#{1,6}[ \t][^\n]*)\n")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


def _trimmed(source: str, start: int, end: int) -> Sentence | None:
    while start < end and source[start].isspace():
        start += 1
    while end > start and source[end - 1].isspace():
        end -= 1
    return Sentence(start, end, source[start:end]) if end > start else None


def split_sentences(text: str, language: str = "en") -> list[Sentence]:
    """The sentences of ``text`` in order, each an exact slice of it."""
    sentences: list[Sentence] = []
    for boundary in get_sentence_boundaries(language, text):
        start, end = int(boundary["start_index"]), int(boundary["end_index"])
        cut = start
        for match in _BLOCK_BREAK.finditer(text, start, end):
            piece = _trimmed(text, cut, match.end())
            if piece is not None:
                sentences.append(piece)
            cut = match.end()
        piece = _trimmed(text, cut, end)
        if piece is not None:
            sentences.append(piece)
    return sentences
