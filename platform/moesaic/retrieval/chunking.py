"""Structure-aware chunking with exact character offsets.

Text is read as Markdown-ish structure: ``#`` heading lines open sections, blank lines separate
paragraphs, and sentences split long paragraphs. A chunk never crosses a heading; it prefers to end
at a paragraph boundary, falls back to sentence boundaries (with ``overlap`` tokens of trailing
sentences carried into the next chunk) and, for a single over-long sentence, to word windows.
Every chunk is a contiguous span ``text[start_char:end_char]`` of the source, so citations can point
back into it. The heading path travels with the chunk as its ``section``.

Token counts are estimated (words and punctuation), close to what a WordPiece tokenizer sees; this
module does not load a tokenizer or a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"')\]]*\s+(?=\S)|\n")


@dataclass(frozen=True)
class ChunkingConfig:
    chunk_size: int = 200  # estimated tokens per chunk
    chunk_overlap: int = 30  # estimated tokens carried over between sentence-split chunks

    def __post_init__(self) -> None:
        if self.chunk_size < 16:
            raise ValueError(f"chunk_size must be >= 16, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size // 2:
            raise ValueError(f"chunk_overlap must be in [0, chunk_size/2), got {self.chunk_overlap}")


@dataclass(frozen=True)
class TextChunk:
    seq: int
    start_char: int
    end_char: int
    text: str
    section: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    num_tokens: int


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def chunk_text(text: str, config: ChunkingConfig = ChunkingConfig()) -> list[TextChunk]:
    """Split ``text`` into chunks of at most ~``config.chunk_size`` tokens."""
    chunks: list[TextChunk] = []
    for section, paragraphs in _sections(text):
        for start, end in _pack(text, paragraphs, config):
            chunks.append(TextChunk(len(chunks), start, end, text[start:end], section))
    return chunks


def _sections(text: str) -> list[tuple[tuple[str, ...], list[_Span]]]:
    """Group paragraphs under their heading path."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[tuple[str, ...], list[_Span]]] = [((), [])]
    position = 0
    paragraph_start: int | None = None
    paragraph_end = 0

    def close_paragraph() -> None:
        nonlocal paragraph_start
        if paragraph_start is not None:
            span_text = text[paragraph_start:paragraph_end]
            sections[-1][1].append(_Span(paragraph_start, paragraph_end, count_tokens(span_text)))
            paragraph_start = None

    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        heading = _HEADING.match(stripped)
        if heading:
            close_paragraph()
            level = len(heading.group(1))
            path[:] = [(lvl, name) for lvl, name in path if lvl < level] + [(level, heading.group(2).strip())]
            sections.append((tuple(name for _, name in path), []))
        elif not stripped:
            close_paragraph()
        else:
            if paragraph_start is None:
                paragraph_start = position + (len(line) - len(line.lstrip()))
            paragraph_end = position + len(line.rstrip())
        position += len(line)
    close_paragraph()
    return [(path_, paras) for path_, paras in sections if paras]


def _pack(text: str, paragraphs: list[_Span], config: ChunkingConfig) -> list[tuple[int, int]]:
    """Greedy packing of paragraphs (then sentences, then word windows) into spans."""
    out: list[tuple[int, int]] = []
    current: list[_Span] = []
    size = 0

    def flush(overlap: bool) -> None:
        nonlocal current, size
        if not current:
            return
        out.append((current[0].start, current[-1].end))
        if overlap and config.chunk_overlap:
            kept: list[_Span] = []
            kept_size = 0
            for unit in reversed(current[1:]):
                if kept_size + unit.num_tokens > config.chunk_overlap:
                    break
                kept.insert(0, unit)
                kept_size += unit.num_tokens
            current, size = kept, kept_size
        else:
            current, size = [], 0

    for paragraph in paragraphs:
        if size + paragraph.num_tokens <= config.chunk_size:
            current.append(paragraph)
            size += paragraph.num_tokens
            continue
        flush(overlap=False)
        if paragraph.num_tokens <= config.chunk_size:
            current, size = [paragraph], paragraph.num_tokens
            continue
        for sentence in _split(text, paragraph, config.chunk_size):
            if size + sentence.num_tokens > config.chunk_size:
                flush(overlap=True)
                if size + sentence.num_tokens > config.chunk_size:
                    current, size = [], 0
            current.append(sentence)
            size += sentence.num_tokens
        flush(overlap=False)
    flush(overlap=False)
    return out


def _split(text: str, paragraph: _Span, max_tokens: int) -> list[_Span]:
    """Sentences of a paragraph; a sentence longer than ``max_tokens`` becomes word windows."""
    body = text[paragraph.start : paragraph.end]
    sentences: list[_Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(body):
        if match.start() > start:
            sentences.append(_span(text, paragraph.start + start, paragraph.start + match.start()))
        start = match.end()
    if start < len(body):
        sentences.append(_span(text, paragraph.start + start, paragraph.end))
    out: list[_Span] = []
    for sentence in sentences:
        if sentence.num_tokens <= max_tokens:
            out.append(sentence)
            continue
        words = list(re.finditer(r"\S+", text[sentence.start : sentence.end]))
        step = max(1, max_tokens // 2)  # words carry punctuation, so stay well under the budget
        for i in range(0, len(words), step):
            window = words[i : i + step]
            out.append(_span(text, sentence.start + window[0].start(), sentence.start + window[-1].end()))
    return out


def _span(text: str, start: int, end: int) -> _Span:
    return _Span(start, end, count_tokens(text[start:end]))
