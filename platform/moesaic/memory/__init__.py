"""Conversations, messages and tool calls in SQL (tenants' keys and accounts live in ``moesaic.access``)."""

from moesaic.memory.store import ConversationInfo, ConversationStore

__all__ = ["ConversationInfo", "ConversationStore"]
