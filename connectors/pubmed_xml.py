"""Parse PubMed XML (``efetch`` with ``retmode=xml``, or the same format on disk) into ``Article``s.

One call parses one whole document: it returns every article or raises ``PubMedParseError``, never
a part. The error names the PMID of the article where the XML broke when one can be found there.
Documents that declare entities are refused (no entity expansion of untrusted input); external
DTDs are never fetched.

Not here: HTTP (``pubmed``), what to do with the articles (``pubmed_sync``).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

from pydantic import ValidationError

from connectors.articles import AbstractSection, Article
from moesaic.errors import UpstreamError

MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_ARTICLE_START = re.compile(rb"<Pubmed(?:Book)?Article[\s>]")
_PMID = re.compile(rb"<PMID[^>]*>\s*([0-9]{1,10})\s*</PMID>")


class PubMedParseError(UpstreamError):
    """The XML cannot be read as PubMed articles; ``pmid`` is the article it broke in, when known."""

    def __init__(self, message: str, *, pmid: str | None = None) -> None:
        super().__init__(message)
        self.pmid = pmid


def parse_articles(data: bytes | str, *, origin: str = "PubMed XML") -> list[Article]:
    """All articles of a ``PubmedArticleSet`` (journal and book articles, in document order).

    ``origin`` (a file name, a request) goes into error messages."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if b"<!ENTITY" in raw:
        raise PubMedParseError(f"{origin}: the document declares XML entities; refused")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise _located_error(raw, exc, origin) from exc
    if root.tag != "PubmedArticleSet":
        detail = " ".join("".join(root.itertext()).split())[:300]
        raise PubMedParseError(f"{origin}: expected <PubmedArticleSet>, got <{root.tag}>" + (f": {detail}" if detail else ""))
    articles = []
    for index, element in enumerate(root):
        if element.tag == "PubmedArticle":
            articles.append(_validated(_journal_article(element, index, origin), origin))
        elif element.tag == "PubmedBookArticle":
            articles.append(_validated(_book_article(element, index, origin), origin))
        # DeleteCitation and anything else carries no article
    return articles


def _located_error(raw: bytes, exc: ET.ParseError, origin: str) -> PubMedParseError:
    """The parse error with the PMID of the article it happened in (the last one opened before it)."""
    line, column = getattr(exc, "position", (1, 0))
    lines = raw.split(b"\n")
    offset = sum(len(text) + 1 for text in lines[: max(line - 1, 0)]) + column
    starts = [match.start() for match in _ARTICLE_START.finditer(raw, 0, max(offset, 1))]
    pmid = None
    if starts:
        following = _ARTICLE_START.search(raw, starts[-1] + 1)
        end = following.start() if following else len(raw)
        found = _PMID.search(raw, starts[-1], end)
        pmid = found.group(1).decode() if found else None
    where = f"in the article with PMID {pmid}" if pmid else "(no PMID found near the error)"
    return PubMedParseError(f"{origin}: malformed XML {where}: {exc}", pmid=pmid)


def _validated(fields: dict[str, Any], origin: str) -> Article:
    try:
        return Article.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        pmid = fields.get("pmid")
        raise PubMedParseError(f"{origin}: article with PMID {pmid} is invalid: {problems}", pmid=pmid) from exc


def _text(element: ET.Element | None) -> str:
    """All the text inside ``element`` (inline markup such as <i> or <sup> dropped), spaces normalised."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _pmid(container: ET.Element | None, index: int, origin: str) -> str:
    pmid = _text(container.find("PMID")) if container is not None else ""
    if not pmid:
        raise PubMedParseError(f"{origin}: article #{index + 1} has no PMID")
    return pmid


def _date(element: ET.Element | None) -> dt.date | None:
    """A full Year/Month/Day date (Month as a number or an English abbreviation), else None."""
    if element is None:
        return None
    year, month, day = (_text(element.find(name)) for name in ("Year", "Month", "Day"))
    month_number = int(month) if month.isdigit() else MONTHS.get(month[:3].lower())
    if not (year.isdigit() and month_number and day.isdigit()):
        return None
    try:
        return dt.date(int(year), month_number, int(day))
    except ValueError:
        return None


def _year(element: ET.Element | None) -> int | None:
    if element is None:
        return None
    found = re.search(r"\b(1[0-9]{3}|2[0-9]{3})\b", _text(element.find("Year")) or _text(element.find("MedlineDate")))
    return int(found.group(1)) if found else None


def _abstract(abstract: ET.Element | None) -> list[AbstractSection]:
    if abstract is None:
        return []
    sections = []
    for part in abstract.findall("AbstractText"):
        text = _text(part)
        if text:
            sections.append(AbstractSection(label=(part.get("Label") or "").strip() or None, text=text))
    return sections


def _authors(author_list: ET.Element | None) -> list[str]:
    if author_list is None:
        return []
    names = []
    for author in author_list.findall("Author"):
        if author.get("ValidYN", "Y") == "N":
            continue
        collective = _text(author.find("CollectiveName"))
        last = _text(author.find("LastName"))
        first = _text(author.find("ForeName")) or _text(author.find("Initials"))
        name = collective or " ".join(part for part in (first, last) if part)
        if name:
            names.append(name)
    return names


def _doi(article: ET.Element | None, pubmed_data: ET.Element | None) -> str | None:
    for element in article.findall("ELocationID") if article is not None else []:
        if element.get("EIdType") == "doi" and element.get("ValidYN", "Y") != "N" and _text(element):
            return _text(element)
    for element in pubmed_data.findall("ArticleIdList/ArticleId") if pubmed_data is not None else []:
        if element.get("IdType") == "doi" and _text(element):
            return _text(element)
    return None


def _comments(citation: ET.Element, ref_type: str) -> list[str]:
    notices = []
    for comment in citation.findall("CommentsCorrectionsList/CommentsCorrections"):
        if comment.get("RefType") != ref_type:
            continue
        source, pmid = _text(comment.find("RefSource")), _text(comment.find("PMID"))
        notices.append(f"{source} (PMID {pmid})" if source and pmid else source or f"PMID {pmid}")
    return notices


def _journal_article(element: ET.Element, index: int, origin: str) -> dict[str, Any]:
    citation = element.find("MedlineCitation")
    pmid = _pmid(citation, index, origin)
    assert citation is not None  # _pmid raised otherwise
    article = citation.find("Article")
    if article is None:
        raise PubMedParseError(f"{origin}: article with PMID {pmid} has no <Article> element", pmid=pmid)
    pub_date = article.find("Journal/JournalIssue/PubDate")
    electronic = article.find("ArticleDate")
    return {
        "source": "pubmed",
        "source_id": pmid,
        "pmid": pmid,
        "title": _text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
        "abstract": _abstract(article.find("Abstract")),
        "authors": _authors(article.find("AuthorList")),
        "journal": _text(article.find("Journal/Title")) or _text(article.find("Journal/ISOAbbreviation")) or None,
        "year": _year(pub_date) or _year(electronic),
        "published": _date(pub_date) or _date(electronic),
        "doi": _doi(article, element.find("PubmedData")),
        "mesh_terms": [_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName") if _text(d)],
        "publication_types": [_text(t) for t in article.findall("PublicationTypeList/PublicationType") if _text(t)],
        "retracted_in": _comments(citation, "RetractionIn"),
        "retraction_of": _comments(citation, "RetractionOf"),
        "modified": _date(citation.find("DateRevised")),
    }


def _book_article(element: ET.Element, index: int, origin: str) -> dict[str, Any]:
    document = element.find("BookDocument")
    pmid = _pmid(document, index, origin)
    assert document is not None
    book = document.find("Book")
    pub_date = book.find("PubDate") if book is not None else None
    return {
        "source": "pubmed",
        "source_id": pmid,
        "pmid": pmid,
        "title": _text(document.find("ArticleTitle")) or _text(document.find("Book/BookTitle")),
        "abstract": _abstract(document.find("Abstract")),
        "authors": _authors(document.find("AuthorList")),
        "journal": _text(document.find("Book/BookTitle")) or None,
        "year": _year(pub_date),
        "published": _date(pub_date),
        "doi": _doi(document, element.find("PubmedBookData")),
        "publication_types": [_text(t) for t in document.findall("PublicationType") if _text(t)],
    }
