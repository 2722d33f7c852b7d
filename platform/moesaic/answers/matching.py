"""How two questions are compared: the exact key of a normalised question, and embedding similarity.

Normalising folds case, Unicode forms, punctuation and spacing ("How do I cancel my order?" and
"how do i cancel my order" share a key); it keeps digits and ``#`` so "#W1" and "#W2" never do.
Vectors are MiniLM's unit-norm float32 embeddings, so a dot product is the cosine.

Embeddings rate "support hours on Saturday?" and "... on Sunday?" (or two order numbers) as near-identical,
so a near-duplicate must also pass a lexical guard (``contrasting``): the same tokens with digits, and not one
content word swapped for another with the rest unchanged. Measured in ``bench/answer_cache_threshold.py``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

NOT_KEPT = re.compile(r"[^\w#]+")
STEM_CHARS = 5
FUNCTION_WORDS = frozenset(
    "a an the i me my mine you your yours we us our it its this that these those there their they them he she his "
    "her to of for in on at by with from about as into and or but if so not no do does did done can could may might "
    "will would shall should must is are was were be been being am have has had get got how what when where which who "
    "whom why please s t any some all each every one also just than then".split())


def normalise_question(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(NOT_KEPT.sub(" ", folded).split())


def question_key(text: str) -> str:
    return hashlib.sha256(normalise_question(text).encode()).hexdigest()


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)


def contrasting(first: str, second: str) -> bool:
    """True when two normalised questions differ in what they are about: another number or id, or one
    content word swapped for another with every other word the same ("returns" / "exchanges")."""
    words_a, words_b = first.split(), second.split()
    if {w for w in words_a if any(c.isdigit() for c in w)} != {w for w in words_b if any(c.isdigit() for c in w)}:
        return True
    content_a = [w[:STEM_CHARS] for w in words_a if w not in FUNCTION_WORDS]  # a crude stem: returns ~ return
    content_b = [w[:STEM_CHARS] for w in words_b if w not in FUNCTION_WORDS]
    only_a = [w for w in content_a if w not in content_b]
    only_b = [w for w in content_b if w not in content_a]
    return len(only_a) == 1 and len(only_b) == 1


def best_match(query: np.ndarray, question: str, candidates: Sequence[tuple[str, str, bytes]],
               threshold: float) -> tuple[str, float] | None:
    """The id and cosine similarity of the closest candidate ``(id, normalised question, vector)`` that is at
    least ``threshold`` similar and not ``contrasting`` with ``question`` (normalised). Vectors of another
    dimension (an embedder change) are skipped."""
    usable = [(row_id, text, from_bytes(data)) for row_id, text, data in candidates if len(data) == query.size * 4]
    if not usable:
        return None
    matrix = np.stack([vector for _, _, vector in usable])  # [N, D]
    scores = matrix @ query.astype(np.float32)  # [N]
    for index in np.argsort(-scores):
        if scores[index] < threshold:
            return None
        if not contrasting(question, usable[index][1]):
            return usable[index][0], float(scores[index])
    return None
