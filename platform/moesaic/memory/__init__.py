"""Conversations, messages and tool calls in SQL (tenants' keys and accounts live in ``moesaic.access``)."""

from moesaic.memory.desk import HANDED_OFF_AT, SearchPage, search_conversations, waiting_since
from moesaic.memory.store import ConversationInfo, ConversationStore

__all__ = ["HANDED_OFF_AT", "ConversationInfo", "ConversationStore", "SearchPage", "search_conversations", "waiting_since"]
