"""Bodies of the answer routes of an app: pinned answers (curated by operators) and cached ones."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from moesaic.api.schemas.common import ResponseModel
from moesaic.api.schemas.conversations import Citation

NO_NUL = r"^[^\x00]+$"


class PinnedAnswerCreate(BaseModel):
    question: str = Field(min_length=1, max_length=2000, pattern=NO_NUL,
                          description="The question, as users ask it; the same question (case, punctuation and spacing "
                          "aside) and near-duplicates get the answer.")
    answer: str = Field(min_length=1, max_length=20000, pattern=NO_NUL, description="The answer users get, word for word.")


class AnswerOut(ResponseModel):
    id: str
    source: Literal["pinned_answer", "answer_cache"] = Field(
        description="'pinned_answer': pinned by an operator; 'answer_cache': a generated answer kept for repeats.")
    question: str
    answer: str
    citations: list[Citation] = Field(description="The sources a cached answer cites (pinned answers cite none).")
    hits: int = Field(description="How often it answered a question instead of the model.")
    created_by: str = Field(description="Who pinned it ('' for cached answers).")
    created_at: str
    expires_at: str | None = Field(description="When a cached answer stops being served (null: pinned, kept until unpinned).")
    knowledge_base: str | None = Field(description="The knowledge base a cached answer was made with (null: pinned "
                                       "answers apply to every one).")


class AnswerList(ResponseModel):
    data: list[AnswerOut]


class AnswerDeleted(ResponseModel):
    id: str
    object: Literal["answer.deleted"] = "answer.deleted"
    deleted: bool = True
