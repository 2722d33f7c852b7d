"""The platform's exceptions.

``MoesaicError`` splits into ``UserError`` (the caller can fix it: shown as a 4xx) and
``UpstreamError`` (a dependency failed: shown as a 5xx). Only the API layer turns them into HTTP.
"""

from __future__ import annotations


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
