"""Request and response models of the app's routes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from moesaic.apps import NotBoolean


class ClaimCheckIn(BaseModel):
    claim: str = Field(description="The claim to check.", max_length=2000)
    knowledge_base: str | None = Field(default=None, description="The knowledge base holding the abstracts (or give saved_query).",
                                       min_length=1, max_length=64)
    saved_query: str | None = Field(default=None, description="A saved PubMed query: its knowledge base, only the abstracts it brought in.",
                                    min_length=1, max_length=100)
    pmids: list[str] | None = Field(default=None, description="Check exactly these abstracts (by PMID) instead of searching.", max_length=50)
    max_abstracts: Annotated[int, NotBoolean] = Field(default=3, ge=1, le=20,
                                                      description="At most this many retrieved abstracts are checked.")
    mode: str = Field(default="model", description="model (the trained cross-encoders) or llm (the configured chat model).")


class SentenceOut(BaseModel):
    index: int = Field(description="Position among the abstract's sentences.")
    start_char: int = Field(description="Offset into the document text: text[start_char:end_char] == text.")
    end_char: int
    text: str
    score: float


class AbstractOut(BaseModel):
    document_id: str
    pmid: str | None
    title: str
    label: str = Field(description="SUPPORT, CONTRADICT or NOT_ENOUGH_INFO.")
    confidence: float
    retrieval_score: float
    rationale: list[SentenceOut]
    label_probabilities: dict[str, float]
    text: str = Field(description="The stored document text the offsets point into.")


class ClaimCheckOut(BaseModel):
    claim: str
    verdict: str = Field(description="SUPPORT, CONTRADICT, MIXED (abstracts disagree) or NOT_ENOUGH_INFO.")
    confidence: float
    mode: str
    model_version: str
    abstracts: list[AbstractOut]


class ContradictionsIn(BaseModel):
    claim: str = Field(description="A claim or topic.", max_length=2000)
    knowledge_base: str | None = Field(default=None, min_length=1, max_length=64)
    saved_query: str | None = Field(default=None, description="A saved PubMed query as the scope.", min_length=1, max_length=100)
    pmids: list[str] | None = Field(default=None, max_length=50)
    max_abstracts: Annotated[int, NotBoolean] = Field(default=10, ge=1, le=20)
    mode: str = "model"


class ContradictionsOut(BaseModel):
    claim: str
    verdict: str
    model_version: str
    supporting: list[AbstractOut]
    contradicting: list[AbstractOut]
    undecided: list[AbstractOut] = Field(description="Checked abstracts that take no side.")


class SummaryIn(BaseModel):
    query: str = Field(description="What the summary is about.", max_length=2000)
    knowledge_base: str | None = Field(default=None, min_length=1, max_length=64)
    saved_query: str | None = Field(default=None, description="A saved PubMed query as the scope.", min_length=1, max_length=100)
    pmids: list[str] | None = Field(default=None, description="Summarise exactly these abstracts instead of searching.", max_length=100)
    max_abstracts: Annotated[int, NotBoolean] = Field(default=8, ge=1, le=50,
                                                      description="Retrieved abstracts considered (without pmids).")
    max_sentences: Annotated[int, NotBoolean] = Field(default=6, ge=1, le=30, description="Sentences in the summary.")
    mode: str = Field(default="extractive", description="extractive, or abstractive (the configured chat model).")


class CitedSentenceOut(BaseModel):
    citation: int = Field(description="The [n] marker in the summary text.")
    document_id: str
    pmid: str | None
    title: str
    index: int
    start_char: int = Field(description="text[start_char:end_char] == text, in the stored document text.")
    end_char: int
    text: str
    relevance: float


class SummaryGroupOut(BaseModel):
    sentences: list[CitedSentenceOut]


class SummaryOut(BaseModel):
    query: str
    mode: str
    text: str = Field(description="The summary; every sentence ends with its citation markers.")
    groups: list[SummaryGroupOut] = Field(description="The cited sentences, grouped by finding.")
    abstracts: int = Field(description="How many abstracts were summarised.")


class QuestionIn(BaseModel):
    question: str = Field(description="A yes/no research question.", max_length=2000)
    knowledge_base: str = Field(min_length=1, max_length=64)
    pmid: str | None = Field(default=None, description="Answer from this abstract (default: the best retrieved one).")


class QuestionOut(BaseModel):
    question: str
    answer: str = Field(description="yes, no or maybe.")
    confidence: float
    probabilities: dict[str, float]
    document_id: str
    pmid: str | None
    title: str
    deciding_sentences: list[SentenceOut] = Field(description="The sentences most relevant to the question, cited with offsets.")
    model_version: str


# -- saved PubMed queries -------------------------------------------------------------------------------
QUERY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class SavedQueryIn(BaseModel):
    name: str = Field(description="The query's name in the tenant (letters, digits, '_', '-', '.').", pattern=QUERY_NAME)
    term: str = Field(description="The PubMed search term, as typed on pubmed.ncbi.nlm.nih.gov.", min_length=1, max_length=4000)
    knowledge_base: str = Field(default="literature", description="Where the synced abstracts go.",
                                pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    interval_hours: Annotated[int, NotBoolean] = Field(default=24, ge=1, le=8760, description="A scheduled sync runs when this long has passed since the last one.")
    datetype: Literal["edat", "mdat", "pdat"] = Field(default="edat", description="The date a sync follows: edat (added to PubMed), "
                                                      "mdat (last modified) or pdat (published).")
    synced_through: dt.date | None = Field(default=None, description="Start the first sync on this day (default: PubMed's oldest records).")

    @field_validator("synced_through", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        """Only YYYY-MM-DD (pydantic would also read a number as a timestamp, which the schema does not allow)."""
        if value is None or isinstance(value, dt.date) or (isinstance(value, str) and ISO_DATE.match(value)):
            return value
        raise ValueError("must be a date as YYYY-MM-DD")


class SavedQueryOut(BaseModel):
    name: str
    term: str
    knowledge_base: str
    interval_hours: int
    datetype: str
    synced_through: dt.date | None = Field(description="Records dated up to this day are stored (the next sync starts on it).")
    last_status: str = Field(description="never, queued, running, succeeded or failed.")
    last_error: str | None = Field(description="Why the last run failed (malformed XML names the PMID).")
    last_run_at: dt.datetime | None = Field(description="When the last run ended.")
    last_job_id: str | None
    num_found: int = Field(description="Records the last successful run found.")
    num_written: int = Field(description="Records the last successful run stored (an unchanged one is not duplicated).")
    num_runs: int
    due: bool = Field(description="Whether a scheduled sync would run it now.")
    created_at: dt.datetime


class SavedQueriesOut(BaseModel):
    queries: list[SavedQueryOut]


class SyncJobOut(BaseModel):
    job_id: str = Field(description="Follow it at GET /v1/jobs/{job_id}; its result is the sync's report.")
    state: str
    query: str
    knowledge_base: str
    synced_through: dt.date | None = Field(description="Where this run starts.")
