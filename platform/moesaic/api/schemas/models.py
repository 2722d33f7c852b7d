"""Bodies of the model-version routes of an app."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from moesaic.api.schemas.common import ResponseModel


class ModelVersionOut(ResponseModel):
    app: str
    name: str
    version: str
    uri: str = Field(description="Where the artefact lies.")
    status: Literal["candidate", "active", "retired"]
    metrics: dict[str, Any]
    note: str
    created_at: str | None
    promoted_at: str | None
    promoted_by: str
    previous_active: str | None = Field(description="The version this one replaced when it was promoted (rollback target).")


class AppModelOut(ResponseModel):
    name: str
    active: str = Field(description="The version the tenant's results are made with now.")
    versions: list[ModelVersionOut]


class AppModelList(ResponseModel):
    data: list[AppModelOut]


class PromoteRequest(BaseModel):
    version: str = Field(min_length=1, max_length=100)
