"""A reply that is already written streams in pieces of about ``STREAM_PIECE_CHARS``, cut after spaces."""

from moesaic.llm.base import STREAM_PIECE_CHARS, split_for_streaming


def test_pieces_add_up_to_the_text_and_end_after_a_space() -> None:
    text = " ".join(f"word{i}" for i in range(80)) + "\nlast line [1]."
    pieces = list(split_for_streaming(text))
    assert "".join(pieces) == text
    assert all(len(p) >= STREAM_PIECE_CHARS and p[-1] in " \n" for p in pieces[:-1])
    assert len(pieces) < len(text.split()) / 5  # not one event per word


def test_short_and_empty_texts() -> None:
    assert list(split_for_streaming("one two")) == ["one two"]
    assert list(split_for_streaming("")) == []
    assert list(split_for_streaming("a b c", min_chars=1)) == ["a ", "b ", "c"]
