"""Bodies of ``GET /v1/apps`` (Moesaic's listing) and ``GET /v1/models`` (OpenAI's)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from moesaic.api.schemas.common import ResponseModel


class AppOut(ResponseModel):
    name: str
    title: str
    description: str
    knowledge_base: str | None = Field(description="The knowledge base the app searches by default.")
    tools: list[str]
    write_tools: list[str] = Field(description="Tools that change something; the agent asks the user to confirm them.")
    chat: bool = Field(description="Whether the app is also a chat model (listed in /v1/models).")


class AppList(ResponseModel):
    data: list[AppOut]


class ModelOut(ResponseModel):
    id: str = Field(description="An app name: pass it as 'model' to chat completions.")
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(ResponseModel):
    object: Literal["list"]
    data: list[ModelOut]
