"""The platform's exceptions.

``MoesaicError`` splits into ``UserError`` (the caller can fix it: shown as a 4xx) and
``UpstreamError`` (a dependency failed: shown as a 5xx). Only the API layer turns them into HTTP.
"""

from __future__ import annotations

from typing import Any

# What each error status means to a caller, for the OpenAPI schema (``moesaic.api.openapi``).
ERROR_DESCRIPTIONS = {
    400: "Bad request: the message says what, `param` names the field.",
    401: "No API key, or an unknown, expired or revoked one (`Authorization: Bearer <key>`).",
    403: "The key may not do this: its role is too low (`param` is 'role') or it may not use the app (the message names the app).",
    404: "Not found in the caller's tenant. A resource of an app the key may not use is reported as not found too, "
    "so its existence does not leak; an unknown app's message lists the valid ones.",
    409: "The resource's current state does not allow this (the message says which state it is in).",
    413: "The upload is larger than the limit.",
    415: "The file's bytes are not a document Moesaic reads (binary, an image, an archive...), whatever its name says; the message names the file.",
    429: "Too many requests for this key: the message names the limit and its setting; `Retry-After` says when to try again.",
    422: "The request failed validation: `error.message` lists every problem, `detail` has one entry per problem.",
    502: "The model service failed before the answer started.",
    503: "Not ready.",
    504: "The model service timed out before the answer started.",
}


def error_responses(*statuses: int, component: str = "ErrorResponse") -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own errors, in OpenAI's error shape: ``responses=error_responses(404, 409)``.
    The ``$ref`` names a model of ``moesaic.api.schemas``, which the OpenAPI post-processing fills in."""
    return {status: {"description": ERROR_DESCRIPTIONS.get(status, "Error"),
                     "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}}}
            for status in statuses}


class MoesaicError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigError(MoesaicError):
    """A setting or manifest is invalid; the message names it."""


class UserError(MoesaicError):
    """Bad input from a caller. ``status`` is the HTTP status the API uses."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(UserError):
    status = 404


class Conflict(UserError):
    status = 409


class PayloadTooLarge(UserError):
    status = 413


class Unauthorized(UserError):
    status = 401


class Forbidden(UserError):
    status = 403


class UpstreamError(MoesaicError):
    """A model endpoint or another dependency failed."""

    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class ToolError(MoesaicError):
    """A tool failed in a way the model can recover from; the text goes back to the model."""
