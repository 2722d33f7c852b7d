"""Moesaic: an open platform for domain AI assistants on a Mixture-of-Experts model service.

Public names for apps and the UI; everything else is reached through documented subpackages
(``moesaic.tools``, ``moesaic.llm``, ``moesaic.retrieval``, ``moesaic.engine``).
"""

from moesaic.apps import AppManifest, OfflineBehaviour, RuleCall, ToolContext
from moesaic.errors import ConfigError, MoesaicError, NotFound, ToolError, UserError
from moesaic.tools import ToolSpec, tool
from moesaic.types import Chunk, Citation, Message, ToolCall

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
