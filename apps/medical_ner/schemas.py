"""Request and response bodies of the app's HTTP API (pydantic); no logic beyond shape checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXTS = 64  # texts in one request; more go through a job


class ExtractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, description="One text (give this or `texts`).")
    texts: list[str] | None = Field(default=None, max_length=MAX_TEXTS, description=f"Up to {MAX_TEXTS} texts.")
    mode: str = Field(default="model", description="model | llm | hybrid")
    labels: list[str] | None = Field(default=None, description="Keep only these labels (problem, treatment, test).")


class EntityOut(BaseModel):
    start: int
    end: int
    text: str
    label: str
    assertion: str
    score: float | None
    source: str


class ResultOut(BaseModel):
    entities: list[EntityOut]
    num_llm_dropped: int = 0
    notes: list[str] = []


class ExtractOut(BaseModel):
    model_version: str
    mode: str
    results: list[ResultOut]  # one per input text, in order
