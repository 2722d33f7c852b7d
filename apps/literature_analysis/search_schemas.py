"""Request and response models of the search routes (``search_routes``): papers with their bibliographic metadata."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from moesaic.apps import NotBoolean


class PaperOut(BaseModel):
    """One paper with what PubMed says of it (fields PubMed left out are empty)."""

    pmid: str | None
    document_id: str | None = Field(default=None, description="Its document in the knowledge base (local search only).")
    title: str
    authors: list[str] = Field(default_factory=list)
    journal: str | None = None
    year: int | None = None
    doi: str | None = None
    mesh_terms: list[str] = Field(default_factory=list)
    publication_types: list[str] = Field(default_factory=list)
    retracted: bool = False
    score: float | None = Field(default=None, description="Retrieval score (local search only).")
    snippet: str = Field(default="", description="The first sentences of the abstract.")


class LocalSearchIn(BaseModel):
    query: str = Field(description="What to look for.", max_length=2000)
    knowledge_base: str = Field(default="literature", min_length=1, max_length=64)
    max_results: Annotated[int, NotBoolean] = Field(default=10, ge=1, le=50)


class LocalSearchOut(BaseModel):
    query: str
    knowledge_base: str
    results: list[PaperOut]


class PubMedSearchIn(BaseModel):
    query: str = Field(description="A PubMed search term, as typed on pubmed.ncbi.nlm.nih.gov.", max_length=4000)
    max_results: Annotated[int, NotBoolean] = Field(default=10, ge=1, le=20)


class PubMedSearchOut(BaseModel):
    query: str
    count: int = Field(description="How many records PubMed found in all (only the first max_results are listed).")
    results: list[PaperOut]


class PubMedAddIn(BaseModel):
    pmids: list[str] = Field(description="The PMIDs to fetch from PubMed and add.", min_length=1, max_length=50)
    knowledge_base: str = Field(default="literature", description="Where the abstracts go.", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class PubMedAddOut(BaseModel):
    knowledge_base: str
    added: list[str] = Field(description="PMIDs queued for indexing (an unchanged one already there stays as it is).")
    not_found: list[str] = Field(description="PMIDs PubMed did not return.")
