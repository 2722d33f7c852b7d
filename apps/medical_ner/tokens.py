"""Text -> subword windows for the encoder, with every subword's character offsets into the text.

The fast tokenizer (``tokenizers``, the MiniLM ``tokenizer.json``) normalises (lower case, accents) but
reports offsets into the original string, so a word's span is a slice of the input whatever its
Unicode. A *word* is one piece of the tokenizer's pre-tokenization (whitespace and punctuation split
it); the model labels a word by its first subword. A text longer than the encoder's window is cut at
word boundaries into overlapping windows; each word takes its prediction from the window where it
sits furthest from an edge. This module has no torch; it does not decide sentence boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

MAX_SUBWORDS = 256  # per window, [CLS] and [SEP] included


@dataclass(frozen=True)
class Word:
    start: int  # character offsets into the encoded text
    end: int
    subword_ids: tuple[int, ...]


@dataclass(frozen=True)
class Window:
    """Consecutive words ``[first, last)`` of one text, as encoder input."""

    first: int
    last: int
    input_ids: tuple[int, ...]  # [CLS] subwords... [SEP]
    word_positions: tuple[int, ...]  # position of each word's first subword in input_ids


def load_tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def encode_words(tokenizer: Tokenizer, text: str) -> list[Word]:
    """The words of ``text`` with their subword ids and character spans (``text[start:end]`` is the word)."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    words: list[Word] = []
    current: int | None = None
    ids: list[int] = []
    start = end = 0
    for token_id, word_id, (char_start, char_end) in zip(encoding.ids, encoding.word_ids, encoding.offsets):
        if word_id is None:
            continue
        if word_id != current:
            if ids:
                words.append(Word(start, end, tuple(ids)))
            current, ids, start = word_id, [], char_start
        ids.append(token_id)
        end = max(end, char_end) if ids[:-1] else char_end
    if ids:
        words.append(Word(start, end, tuple(ids)))
    return words


def make_windows(words: list[Word], cls_id: int, sep_id: int, max_subwords: int = MAX_SUBWORDS) -> list[Window]:
    """Cover ``words`` with windows of at most ``max_subwords`` subwords; consecutive windows overlap by
    about half a window so every word has context on both sides in one of them. A single word longer than
    a window keeps only its leading subwords (its first one is what the model labels)."""
    assert max_subwords >= 8, f"max_subwords={max_subwords} is too small for a window"
    budget = max_subwords - 2
    windows: list[Window] = []
    first = 0
    while first < len(words) or not windows:
        ids: list[int] = [cls_id]
        positions: list[int] = []
        last = first
        while last < len(words) and len(ids) - 1 + min(len(words[last].subword_ids), budget) <= budget:
            positions.append(len(ids))
            ids.extend(words[last].subword_ids[:budget])
            last += 1
        ids.append(sep_id)
        windows.append(Window(first, last, tuple(ids), tuple(positions)))
        if last >= len(words):
            break
        # next window starts about half-way through this one (at least one word further on)
        used = 0
        half = first
        while half < last - 1 and used < budget // 2:
            used += len(words[half].subword_ids)
            half += 1
        first = max(half, first + 1)
    return windows


def owner_of_words(windows: list[Window], num_words: int) -> list[tuple[int, int]]:
    """For each word: (window index, index of the word inside that window), choosing the window where the
    word is furthest from either edge."""
    best: list[tuple[int, int, int]] = [(-1, -1, -1)] * num_words  # (margin, window, index)
    for window_index, window in enumerate(windows):
        for offset, word in enumerate(range(window.first, window.last)):
            margin = min(offset, window.last - 1 - word)
            if margin > best[word][0]:
                best[word] = (margin, window_index, offset)
    assert all(b[1] >= 0 for b in best), "every word must be covered by a window"
    return [(window_index, index) for _, window_index, index in best]
