"""Local loaders: SciFact corpus, PubMedQA contexts and PubMed XML files into Articles."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from connectors.articles import sentence_spans
from connectors.literature_files import (
    LiteratureSourceError,
    load_pubmed_xml_files,
    load_pubmedqa_contexts,
    load_scifact_corpus,
)
from tests.connectors.conftest import FIXTURES

DATASETS = Path(os.environ.get("MOESAIC_DATASETS_DIR", "../shared/data"))


def test_scifact_keeps_its_sentences_at_exact_offsets(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(doc) for doc in [
        {"doc_id": 4, "title": "Aspirin  and fever", "abstract": ["Aspirin lowers fever.", "It is cheap (p < 0.01)."], "structured": False},
        {"doc_id": 9, "title": "Sleep", "abstract": ["Sleep matters."], "structured": False},
    ]) + "\n")
    first, second = load_scifact_corpus(corpus)
    assert (first.source, first.source_id, first.title, first.pmid) == ("scifact", "4", "Aspirin and fever", None)
    assert first.sentences == ("Aspirin lowers fever.", "It is cheap (p < 0.01).")
    text = first.to_markdown()
    assert [text[s:e] for s, e in sentence_spans(text, first.sentences)] == list(first.sentences)
    assert second.filename == "scifact-9.md"


def test_scifact_bad_line_names_the_line_and_field(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"doc_id": 1, "title": "ok", "abstract": ["A."]}\n{"doc_id": 2, "title": "no abstract", "abstract": []}\n')
    with pytest.raises(LiteratureSourceError, match="corpus.jsonl line 2: abstract: List should have at least 1 item"):
        load_scifact_corpus(corpus)
    with pytest.raises(LiteratureSourceError, match="no such file"):
        load_scifact_corpus(tmp_path / "missing.jsonl")


@pytest.mark.skipif(not (DATASETS / "scifact" / "corpus.jsonl").exists(), reason="SciFact is not in the datasets dir")
def test_the_whole_scifact_corpus_loads() -> None:
    articles = load_scifact_corpus(DATASETS / "scifact" / "corpus.jsonl")
    assert len(articles) == 5_183 and len({a.key for a in articles}) == 5_183
    assert all(a.sentences and a.title for a in articles)


def test_pubmedqa_reads_only_the_contexts(tmp_path: Path) -> None:
    path = tmp_path / "pqal.json"
    path.write_text(json.dumps({"123": {
        "QUESTION": "Does coffee help?", "CONTEXTS": ["We studied coffee.", "Coffee  helped."],
        "LABELS": ["BACKGROUND", "RESULTS"], "MESHES": ["Coffee", "Humans"], "YEAR": "2011",
        "LONG_ANSWER": "THE SECRET CONCLUSION", "final_decision": "yes", "reasoning_required_pred": "yes"}}))
    (article,) = load_pubmedqa_contexts(path)
    assert (article.source, article.pmid, article.year, article.title) == ("pubmedqa", "123", 2011, "")
    assert [(s.label, s.text) for s in article.abstract] == [("BACKGROUND", "We studied coffee."), ("RESULTS", "Coffee helped.")]
    text = article.to_markdown()
    assert text.startswith("# PMID 123\n") and "SECRET" not in text and "Does coffee help" not in text
    assert article.mesh_terms == ("Coffee", "Humans")
    path.write_text(json.dumps({"77": {"CONTEXTS": []}}))
    with pytest.raises(LiteratureSourceError, match="PMID 77: CONTEXTS"):
        load_pubmedqa_contexts(path)


@pytest.mark.skipif(not (DATASETS / "pubmedqa" / "pqal_trainval_500.json").exists(), reason="PubMedQA is not there")
def test_the_pubmedqa_training_file_loads() -> None:
    articles = load_pubmedqa_contexts(DATASETS / "pubmedqa" / "pqal_trainval_500.json")
    assert len(articles) == 500 and all(a.abstract and a.pmid for a in articles)


def test_pubmed_xml_files_plain_and_gzipped(tmp_path: Path) -> None:
    data = (FIXTURES / "articles.xml").read_bytes()
    (tmp_path / "a.xml").write_bytes(data)
    (tmp_path / "b.xml.gz").write_bytes(gzip.compress(data))
    (tmp_path / "notes.txt").write_text("ignored")
    articles = load_pubmed_xml_files(tmp_path)
    assert sorted(a.pmid or "" for a in articles) == ["11111111", "22222222", "33333333", "44444444"]  # same PMIDs once


def test_a_malformed_xml_file_names_the_file_and_the_pmid(tmp_path: Path) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes((FIXTURES / "articles.xml").read_bytes())
    bad = tmp_path / "bad.xml"
    bad.write_text("<PubmedArticleSet>" + (FIXTURES / "malformed_article.xml").read_text() + "</PubmedArticleSet>")
    with pytest.raises(LiteratureSourceError, match=r"bad\.xml: malformed XML in the article with PMID 55555502"):
        load_pubmed_xml_files([good, bad])
    (tmp_path / "c.xml.gz").write_bytes(b"not gzip")
    with pytest.raises(LiteratureSourceError, match="not a readable gzip file"):
        load_pubmed_xml_files(tmp_path / "c.xml.gz")
