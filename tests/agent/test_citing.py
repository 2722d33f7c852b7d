"""Answers cite the sentences they rest on, with offsets into the source document."""

from __future__ import annotations

from moesaic.agent.citing import cite_sentences, claims_by_index
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
