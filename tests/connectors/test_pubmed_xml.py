"""PubMed XML -> Article: fields, retractions, books, and errors that name the PMID."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from connectors.articles import Article, sentence_spans
from connectors.pubmed_fake import XML_HEAD, XML_TAIL, synthetic_article_xml
from connectors.pubmed_xml import PubMedParseError, parse_articles
from tests.connectors.conftest import FIXTURES


@pytest.fixture(scope="module")
def articles() -> dict[str, Article]:
    return {a.pmid or "": a for a in parse_articles((FIXTURES / "articles.xml").read_bytes(), origin="articles.xml")}


def test_the_fixture_set_has_three_journal_articles_and_a_book(articles: dict[str, Article]) -> None:
    assert list(articles) == ["11111111", "22222222", "33333333", "44444444"]  # DeleteCitation carries none


def test_structured_abstract_keeps_labels_and_bibliography(articles: dict[str, Article]) -> None:
    a = articles["11111111"]
    assert a.title == "Vitamin D supplements and the risk of winter colds: a randomised trial."
    assert [s.label for s in a.abstract] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert a.abstract[2].text == "Colds occurred in 31% with vitamin D and 33% with placebo (p = 0.6)."
    assert a.authors == ("Maja Lindqvist", "CE Okafor", "Winter Colds Study Group")  # ValidYN="N" left out
    assert (a.journal, a.year, a.published) == ("Journal of Invented Medicine", 2021, dt.date(2021, 1, 7))
    assert a.doi == "10.1000/jim.2021.001"
    assert a.mesh_terms == ("Humans", "Common Cold", "Vitamin D")
    assert a.publication_types == ("Journal Article", "Randomized Controlled Trial")
    assert a.modified == dt.date(2023, 5, 17)
    assert not a.is_retracted and a.retracted_in == ()
    text = a.to_markdown()
    assert text.startswith("# Vitamin D supplements")
    assert "## Methods\n\nWe randomised 400 adults" in text
    assert "Lindqvist" not in text  # bibliography goes to metadata, not into the sentences
    meta = a.knowledge_metadata()
    assert meta["date"] == "2021-01-07" and meta["pmid"] == "11111111" and meta["tags"] == ["pubmed"]
    assert a.filename == "pubmed-11111111.md"


def test_retracted_article_carries_its_retraction_notice(articles: dict[str, Article]) -> None:
    a = articles["22222222"]
    assert a.is_retracted
    assert a.retracted_in == ("Arch Unlikely Find. 2001;3:1 (PMID 33333333)",)  # CommentIn is not a retraction
    assert (a.year, a.published) == (1998, None)  # MedlineDate "1998 Dec-1999 Jan"
    assert a.doi == "10.1000/auf.1998.77"  # from ArticleIdList when there is no ELocationID
    assert a.abstract[0].label is None
    assert "> Retracted: this article has been retracted (Arch Unlikely Find. 2001;3:1 (PMID 33333333))." in a.to_markdown()
    meta = a.knowledge_metadata()
    assert meta["retracted"] is True and "retracted" in meta["tags"]


def test_retraction_notice_and_book_chapter(articles: dict[str, Article]) -> None:
    notice = articles["33333333"]
    assert notice.retraction_of == ("Arch Unlikely Find. 1998;1:5 (PMID 22222222)",)
    assert not notice.is_retracted and notice.abstract == ()
    book = articles["44444444"]
    assert (book.title, book.journal, book.year) == ("Chapter 4: Seasonal sniffles.", "Handbook of Invented Diseases", 2019)
    assert book.abstract[0].label == "SUMMARY"


def _set(*fragments: str) -> bytes:
    return (XML_HEAD + "".join(fragments) + XML_TAIL).encode()


def test_malformed_article_is_reported_with_its_pmid() -> None:
    rng = random.Random(1)
    broken = (FIXTURES / "malformed_article.xml").read_text()
    data = _set(synthetic_article_xml("55555501", rng=rng), broken, synthetic_article_xml("55555503", rng=rng))
    with pytest.raises(PubMedParseError) as caught:
        parse_articles(data, origin="efetch batch 1")
    assert caught.value.pmid == "55555502"
    assert "PMID 55555502" in str(caught.value) and "efetch batch 1" in str(caught.value)
    assert "mismatched tag" in str(caught.value)


def test_truncated_document_names_the_article_it_stopped_in() -> None:
    data = (FIXTURES / "articles.xml").read_bytes()
    cut = data[: data.index(b"Ten men drank coffee")]
    with pytest.raises(PubMedParseError) as caught:
        parse_articles(cut)
    assert caught.value.pmid == "22222222"


def test_article_without_pmid_and_invalid_fields_are_errors() -> None:
    no_pmid = re.sub(r"<PMID[^>]*>\d+</PMID>", "", synthetic_article_xml("1", rng=random.Random(0)), count=1)
    with pytest.raises(PubMedParseError, match="article #1 has no PMID"):
        parse_articles(_set(no_pmid))
    bad_pmid = synthetic_article_xml("12ab", rng=random.Random(0))
    with pytest.raises(PubMedParseError, match="PMID 12ab is invalid") as caught:
        parse_articles(_set(bad_pmid))
    assert caught.value.pmid == "12ab"


def test_entities_and_error_answers_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><PubmedArticleSet>&a;</PubmedArticleSet>'
    with pytest.raises(PubMedParseError, match="declares XML entities"):
        parse_articles(bomb)
    with pytest.raises(PubMedParseError, match="expected <PubmedArticleSet>, got <eFetchResult>: Unable to obtain"):
        parse_articles(b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>")


def test_presplit_sentences_map_to_exact_offsets() -> None:
    sentences = ("Aspirin lowers fever.", "It did not change mortality (n = 12).")
    article = Article(source="scifact", source_id="7", title="Aspirin", sentences=sentences)
    text = article.to_markdown()
    spans = sentence_spans(text, sentences)
    assert [text[start:end] for start, end in spans] == list(sentences)
    with pytest.raises(ValueError, match="sentence 0 not found"):
        sentence_spans("nothing here", sentences)
