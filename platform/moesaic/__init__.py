"""Moesaic: an open platform for domain AI assistants on a Mixture-of-Experts model service.

Public names for apps and the UI; everything else is reached through documented subpackages
(``moesaic.tools``, ``moesaic.llm``, ``moesaic.retrieval``, ``moesaic.engine``). The names load
lazily, so that ``moesaic.engine`` imports on a GPU host that has torch but no web stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AppManifest": "moesaic.apps",
    "OfflineBehaviour": "moesaic.apps",
    "RuleCall": "moesaic.apps",
    "ToolContext": "moesaic.apps",
    "ConfigError": "moesaic.errors",
    "MoesaicError": "moesaic.errors",
    "NotFound": "moesaic.errors",
    "ToolError": "moesaic.errors",
    "UserError": "moesaic.errors",
    "ToolSpec": "moesaic.tools.spec",
    "tool": "moesaic.tools.spec",
    "Chunk": "moesaic.types",
    "Citation": "moesaic.types",
    "Message": "moesaic.types",
    "ToolCall": "moesaic.types",
}
__all__ = [
    "AppManifest",
    "Chunk",
    "Citation",
    "ConfigError",
    "Message",
    "MoesaicError",
    "NotFound",
    "OfflineBehaviour",
    "RuleCall",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolSpec",
    "UserError",
    "tool",
]
assert sorted(__all__) == sorted(_EXPORTS), "__all__ and _EXPORTS must name the same things"

if TYPE_CHECKING:
    from moesaic.apps import AppManifest, OfflineBehaviour, RuleCall, ToolContext
    from moesaic.errors import ConfigError, MoesaicError, NotFound, ToolError, UserError
    from moesaic.tools.spec import ToolSpec, tool
    from moesaic.types import Chunk, Citation, Message, ToolCall


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'moesaic' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
