"""Request and response models of the app's routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from moesaic.apps import NotBoolean


class ClaimCheckIn(BaseModel):
    claim: str = Field(description="The claim to check.", max_length=2000)
    knowledge_base: str = Field(description="The knowledge base holding the abstracts.", min_length=1, max_length=64)
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
    knowledge_base: str = Field(min_length=1, max_length=64)
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
    knowledge_base: str = Field(min_length=1, max_length=64)
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
