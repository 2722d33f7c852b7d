"""Answers cite the sentences they rest on, with offsets into the source document."""

from __future__ import annotations

from moesaic.agent.citing import CitationNumbering, cite_sentences, claims_by_index, renumber_citations
from moesaic.types import Chunk, Citation

DOCUMENT = ("# Shipping\nOrders ship within two business days. Express delivery costs 15 dollars. "
            "Refunds go back to the original card within 5-7 days, e.g. for returns.")


def passage(start: int, end: int, index: int = 1) -> tuple[Chunk, Citation]:
    chunk = Chunk(f"c{index}", "doc-1", DOCUMENT[start:end], start, end, title="Shipping")
    return chunk, Citation.from_chunk(index, chunk)


def test_each_marker_cites_the_sentence_its_claim_rests_on() -> None:
    chunk, citation = passage(11, len(DOCUMENT))
    answer = "Express shipping costs 15 dollars [1]. Your refund reaches the original card in 5-7 days [1]."
    [cited] = cite_sentences(answer, [citation], [chunk])
    assert [s.text for s in cited.sentences] == [
        "Express delivery costs 15 dollars.", "Refunds go back to the original card within 5-7 days, e.g. for returns."]
    for sentence in cited.sentences:
        assert DOCUMENT[sentence.start_char : sentence.end_char] == sentence.text


def test_adjacent_markers_share_a_claim_and_unrelated_claims_cite_no_sentence() -> None:
    assert claims_by_index("Orders ship fast [1][2].\nSee also [3]") == {
        1: ["Orders ship fast"], 2: ["Orders ship fast"], 3: ["See also"]}
    chunk, citation = passage(11, 58)
    [cited] = cite_sentences("Purple elephants [1]", [citation], [chunk])
    assert cited.sentences == ()
    assert cited.to_dict()["sentences"] == []


def test_citation_numbers_become_dense_with_the_text_renumbered() -> None:
    chunks = [Chunk(f"c{i}", "doc-1", DOCUMENT[11:], 11, len(DOCUMENT), title=f"part {i}") for i in range(1, 5)]
    citations = [Citation.from_chunk(i, chunk) for i, chunk in enumerate(chunks, start=1)]
    answer = "Express delivery costs 15 dollars [4]. Orders ship within two business days [1][2]."
    cited = cite_sentences(answer, [citations[0], citations[1], citations[3]], chunks)
    text, renumbered = renumber_citations(answer, cited, len(chunks))
    assert text == "Express delivery costs 15 dollars [1]. Orders ship within two business days [2][3]."
    assert [(c.index, c.title) for c in renumbered] == [(1, "part 4"), (2, "part 1"), (3, "part 2")]
    assert [s.text for s in renumbered[0].sentences] == ["Express delivery costs 15 dollars."]  # sentences kept


def test_streamed_pieces_get_the_same_numbers_as_the_whole_answer() -> None:
    answer = "Fast [3]. Cheap [1]. Fast again [3]. Not a source [9]."
    numbering = CitationNumbering(4)
    streamed = "".join(numbering.push(answer[i : i + 2]) for i in range(0, len(answer), 2)) + numbering.flush()
    assert streamed == renumber_citations(answer, [], 4)[0] == "Fast [1]. Cheap [2]. Fast again [1]. Not a source [9]."
