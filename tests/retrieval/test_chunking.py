from __future__ import annotations

import pytest

from moesaic.retrieval.chunking import ChunkingConfig, chunk_text, count_tokens

DOC = (
    "# Guide\n\nIntro paragraph. It has two sentences.\n\n## Returns\n"
    + " ".join(f"Sentence {i} explains the returns policy in detail." for i in range(40))
    + "\n\nShort tail paragraph.\n\n## Shipping\nShips in 3 days.\n"
)


def test_chunks_are_exact_spans_of_the_source() -> None:
    chunks = chunk_text(DOC, ChunkingConfig(chunk_size=60, chunk_overlap=12))
    assert len(chunks) > 4
    for chunk in chunks:
        assert DOC[chunk.start_char : chunk.end_char] == chunk.text
        assert not chunk.text.startswith("#")


def test_chunks_never_cross_headings_and_carry_the_heading_path() -> None:
    chunks = chunk_text(DOC, ChunkingConfig(chunk_size=500, chunk_overlap=0))
    assert [c.section for c in chunks] == [("Guide",), ("Guide", "Returns"), ("Guide", "Shipping")]
    assert chunks[1].text.endswith("Short tail paragraph.")  # paragraphs of one section packed together


def test_long_paragraphs_split_at_sentences_with_overlap() -> None:
    chunks = [c for c in chunk_text(DOC, ChunkingConfig(chunk_size=60, chunk_overlap=12)) if c.section[-1] == "Returns"]
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 60
        assert chunk.text.rstrip().endswith(".")
    for before, after in zip(chunks, chunks[1:]):
        if after.text != "Short tail paragraph.":
            assert after.start_char < before.end_char  # overlapping sentences
            assert after.text.startswith("Sentence")


def test_a_giant_sentence_becomes_word_windows() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    chunks = chunk_text(text, ChunkingConfig(chunk_size=50, chunk_overlap=0))
    assert len(chunks) >= 10
    assert all(count_tokens(c.text) <= 50 for c in chunks)
    assert chunks[0].start_char == 0 and chunks[-1].end_char == len(text)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="chunk_overlap"):
        ChunkingConfig(chunk_size=100, chunk_overlap=60)
