"""The document shape every literature source produces: ``Article`` (PubMed, SciFact, PubMedQA).

An ``Article`` is a validated, frozen record of one abstract and its bibliographic data. It renders
to the Markdown a knowledge base stores (``to_markdown``) and to that document's metadata
(``knowledge_metadata``); ``filename`` is its stable name in a knowledge base, so writing the same
article again replaces it instead of adding a copy.

Not here: parsing PubMed XML (``pubmed_xml``), reading files (``literature_files``), the network.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ArticleSource = Literal["pubmed", "scifact", "pubmedqa"]
RETRACTED_TYPE = "Retracted Publication"


class AbstractSection(BaseModel):
    """One part of an abstract; ``label`` is PubMed's ``AbstractText Label`` (None when unlabelled)."""

    model_config = ConfigDict(frozen=True)

    label: str | None = None
    text: str = Field(min_length=1)


class Article(BaseModel):
    """One abstract with its bibliographic data, whatever source it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: ArticleSource
    source_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")  # the PMID for PubMed and PubMedQA
    pmid: str | None = Field(default=None, pattern=r"^[0-9]{1,10}$")
    title: str = ""
    abstract: tuple[AbstractSection, ...] = ()
    # the abstract's sentences as the source split them (SciFact's rationale indices point into these)
    sentences: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    journal: str | None = None
    year: int | None = Field(default=None, ge=1000, le=3000)
    published: dt.date | None = None
    doi: str | None = None
    mesh_terms: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    retracted_in: tuple[str, ...] = ()  # the retraction notices that retract this article
    retraction_of: tuple[str, ...] = ()  # when this article is itself a retraction notice
    modified: dt.date | None = None  # PubMed's DateRevised

    @property
    def is_retracted(self) -> bool:
        return bool(self.retracted_in) or RETRACTED_TYPE in self.publication_types

    @property
    def key(self) -> str:
        return f"{self.source}-{self.source_id}"

    @property
    def filename(self) -> str:
        """The document's name in a knowledge base: one document per article, whatever its version."""
        return f"{self.key}.md"

    @property
    def display_title(self) -> str:
        return self.title or (f"PMID {self.pmid}" if self.pmid else self.key)

    @property
    def abstract_text(self) -> str:
        return "\n\n".join(
            f"{section.label}: {section.text}" if section.label else section.text for section in self.abstract
        )

    def to_markdown(self) -> str:
        """Title as a heading, a retraction warning when retracted, then each abstract section
        (labelled ones under their own heading). Bibliographic data goes to the metadata instead,
        so every sentence of the text is a sentence of the paper."""
        parts = [f"# {self.display_title}"]
        if self.is_retracted:
            notices = "; ".join(self.retracted_in) or "PubMed marks it as a retracted publication"
            parts.append(f"> Retracted: this article has been retracted ({notices}).")
        if self.sentences:
            parts.append(" ".join(self.sentences))
        else:
            for section in self.abstract:
                if section.label:
                    parts.append(f"## {section.label.capitalize()}")
                parts.append(section.text)
        return "\n\n".join(parts) + "\n"

    def knowledge_metadata(self) -> dict[str, Any]:
        """Metadata for ``KnowledgeService.add_document``: the known keys feed search filters
        (title, source, tags, date); the rest is kept with the document."""
        tags = [self.source, *(["retracted"] if self.is_retracted else [])]
        meta: dict[str, Any] = {
            "title": self.display_title[:500],
            "source": self.source,
            "tags": tags,
            "source_id": self.source_id,
            "pmid": self.pmid,
            "doi": self.doi,
            "journal": self.journal,
            "year": self.year,
            "authors": list(self.authors),
            "mesh_terms": list(self.mesh_terms),
            "publication_types": list(self.publication_types),
            "retracted": self.is_retracted,
            "retracted_in": list(self.retracted_in),
        }
        if self.published is not None:
            meta["date"] = self.published.isoformat()
        elif self.year is not None:
            meta["date"] = f"{self.year:04d}-01-01"
        return {key: value for key, value in meta.items() if value not in (None, [], "")}


def sentence_spans(text: str, sentences: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Character spans of ``sentences`` in ``text``, found in order (``text[start:end] == sentence``).

    For articles whose source split the abstract (SciFact): map a rationale sentence index to its
    place in ``to_markdown()``. Raises ``ValueError`` naming the first sentence not found."""
    spans: list[tuple[int, int]] = []
    position = 0
    for index, sentence in enumerate(sentences):
        start = text.find(sentence, position)
        if start < 0:
            raise ValueError(f"sentence {index} not found in the text after offset {position}: {sentence[:60]!r}")
        spans.append((start, start + len(sentence)))
        position = start + len(sentence)
    return spans
