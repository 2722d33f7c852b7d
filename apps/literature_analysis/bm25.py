"""A small in-memory BM25 (Anserini's k1=0.9, b=0.4) over abstracts: the keyword half of the app's
local retriever. No torch."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an and are as at be been being but by can could did do does for from had has have how in into is it its "
    "may might more most no not of on or other our such than that the their there these they this those to was "
    "we were what when where which while who will with would".split()
)


def terms(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    def __init__(self, texts: Sequence[str], k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for index, text in enumerate(texts):
            counts = Counter(terms(text))
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings.setdefault(term, []).append((index, tf))
        self.lengths = np.asarray(lengths, dtype=np.float32)
        self.average = float(self.lengths.mean()) if len(lengths) else 1.0
        self.size = len(lengths)

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average, 1e-9))
        for term in set(terms(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (self.size - len(posting) + 0.5) / (len(posting) + 0.5))
            docs = np.fromiter((d for d, _ in posting), dtype=np.int64, count=len(posting))
            tfs = np.fromiter((tf for _, tf in posting), dtype=np.float32, count=len(posting))
            out[docs] += idf * tfs * (self.k1 + 1) / (tfs + norm[docs])
        return out
