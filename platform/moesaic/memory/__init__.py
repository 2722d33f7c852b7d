"""Conversations, messages, tool calls, tenants and API keys in SQL."""

from moesaic.memory.keys import Principal, authenticate, create_api_key, ensure_tenant
from moesaic.memory.store import ConversationInfo, ConversationStore

__all__ = ["ConversationInfo", "ConversationStore", "Principal", "authenticate", "create_api_key", "ensure_tenant"]
