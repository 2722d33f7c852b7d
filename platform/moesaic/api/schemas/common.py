"""Shapes shared by every route: the response base class and the OpenAI error body.

Every error of the API, whatever its status, is ``{"error": {"message", "type", "param", "code"}}``
(``api.errors`` writes it); a 422 adds FastAPI's ``detail`` list. This module only describes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "upstream_error",
    "server_error",
]


class ResponseModel(BaseModel):
    """A response body. Unknown fields are refused, so a route that starts sending a new field
    without declaring it fails its tests instead of drifting from the documented contract."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(ResponseModel):
    message: str = Field(description="What went wrong, in words meant for the caller.")
    type: ErrorType = Field(description="The class of error, as in OpenAI's API.")
    param: str | None = Field(default=None, description="The request field or path parameter at fault, if one is.")
    code: str | int | None = Field(
        default=None,
        description="A finer code: 'validation_error' on 422, the upstream error's class on 502/504, "
        "the HTTP status in an in-band stream error.",
    )


class ErrorResponse(ResponseModel):
    """The body of every error response (OpenAI's error shape)."""

    error: ErrorDetail


class ValidationProblem(ResponseModel):
    loc: list[str | int] | None
    msg: str | None
    type: str | None


class ValidationErrorResponse(ResponseModel):
    """A 422: OpenAI's error shape, plus FastAPI's ``detail`` list with one entry per problem."""

    error: ErrorDetail
    detail: list[ValidationProblem]


class Health(ResponseModel):
    status: Literal["ok"]


class ReadinessChecks(ResponseModel):
    database: str = Field(description="'ok', or 'error: ...' when the database cannot be reached.")
    model: str = Field(description="The name of the chat model the platform talks to.")
    embedder: str = Field(default="not loaded", description="'ready' once the knowledge bases' embedders are loaded "
                          "(the server warms them before it serves), 'not loaded', or 'error: ...' (not ready).")


class Readiness(ResponseModel):
    status: Literal["ready", "not ready"]
    checks: ReadinessChecks
    apps: dict[str, str] = Field(default_factory=dict, description="Each app's readiness: 'set up', 'ready' or 'error: ...'.")


def json_schema_of(model: type[BaseModel], ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema, nested definitions) of ``model`` with references written as ``ref_template``."""
    schema = model.model_json_schema(ref_template=ref_template, mode="serialization")
    return schema, schema.pop("$defs", {})
