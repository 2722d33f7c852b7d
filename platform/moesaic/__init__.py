"""Moesaic: an open platform for domain AI assistants on a Mixture-of-Experts model service.

Public names for apps; everything else an app may use is reached through the documented
subpackages, each through its ``__init__`` only (docs/APPS.md, "What an app may import"; a test
enforces it): ``moesaic.apps``, ``moesaic.tools``, ``moesaic.llm``, ``moesaic.retrieval``, ``moesaic.db``,
``moesaic.memory``, ``moesaic.agent``, ``moesaic.access``, ``moesaic.jobs``, ``moesaic.config``,
``moesaic.errors``, ``moesaic.types`` (and ``split_sentences``, re-exported here). The API layer, ``moesaic.services``, the CLI and the engine are
not for apps. The names load lazily, so that ``moesaic.engine`` imports on a GPU host that has torch
but no web stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AppContext": "moesaic.apps",
    "AppManifest": "moesaic.apps",
    "Evaluation": "moesaic.apps",
    "MissingData": "moesaic.apps",
    "TenantScoped": "moesaic.db",
    "open_app_context": "moesaic.services",
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
    "Sentence": "moesaic.sentences",
    "split_sentences": "moesaic.sentences",
}
__all__ = [
    "AppContext",
    "AppManifest",
    "Evaluation",
    "MissingData",
    "TenantScoped",
    "open_app_context",
    "Chunk",
    "Citation",
    "ConfigError",
    "Message",
    "MoesaicError",
    "NotFound",
    "OfflineBehaviour",
    "RuleCall",
    "Sentence",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolSpec",
    "UserError",
    "split_sentences",
    "tool",
]
assert sorted(__all__) == sorted(_EXPORTS), "__all__ and _EXPORTS must name the same things"

if TYPE_CHECKING:
    from moesaic.apps import AppContext, AppManifest, Evaluation, MissingData, OfflineBehaviour, RuleCall, ToolContext
    from moesaic.db import TenantScoped
    from moesaic.services import open_app_context
    from moesaic.errors import ConfigError, MoesaicError, NotFound, ToolError, UserError
    from moesaic.tools.spec import ToolSpec, tool
    from moesaic.sentences import Sentence, split_sentences
    from moesaic.types import Chunk, Citation, Message, ToolCall


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'moesaic' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
