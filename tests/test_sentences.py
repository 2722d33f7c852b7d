"""Sentences are exact slices of their text, and abbreviations do not end them."""

from __future__ import annotations

from moesaic.sentences import split_sentences


def texts(source: str) -> list[str]:
    spans = split_sentences(source)
    assert all(source[s.start : s.end] == s.text for s in spans)
    return [s.text for s in spans]


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert texts("Refunds take 5-7 days, e.g. for cards. The U.S. office closes at 5 p.m. daily.") == [
        "Refunds take 5-7 days, e.g. for cards.", "The U.S. office closes at 5 p.m. daily."]


def test_blank_lines_list_items_and_headings_end_a_sentence() -> None:
    source = "# Returns\nItems can be returned within 30 days\n- unused items\n- with a receipt\n\nNo cash refunds"
    assert texts(source) == ["# Returns", "Items can be returned within 30 days", "- unused items", "- with a receipt", "No cash refunds"]


def test_offsets_are_exact_on_unicode_crlf_and_whitespace_runs() -> None:
    source = "Ça coûte 5 €.\r\n\r\nNaïve café — “quoted”.   Émojis 🙂 count too!\tLast one"
    assert texts(source) == ["Ça coûte 5 €.", "Naïve café — “quoted”.", "Émojis 🙂 count too!", "Last one"]
    assert texts("") == [] and texts(" \n\t ") == []
