"""Which turns may use the answer cache (read it, and have their answer kept in it).

Only the first question of a conversation is cacheable. A later turn's answer depends on the earlier ones
("and for returns?", "yes"), and a conversation that holds state (an authenticated customer, the offline
dialogue, an action waiting for confirmation) answers differently from a fresh one. A question that carries
personal data (``moesaic.privacy``: emails, phone and card numbers, IBANs, SSNs, public IPs) is neither looked
up nor stored, so no cached row ever holds it. A request with ``max_tokens`` wants a cut answer, not the
cached whole one. Turns that call tools are refused at the other end: ``answers`` never stores an answer a
tool helped to write (the agent loop checks), so a lookup can only return answers made without tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from moesaic.privacy import redact

# conversation metadata that makes the next answer depend on more than the question
STATEFUL_KEYS = ("identity", "dialogue", "pending_action")


def bypass_reason(question: str, *, num_earlier_messages: int, conversation_metadata: Mapping[str, Any],
                  max_tokens: int | None) -> str | None:
    """Why this turn may not use the cache (a metric label), or None when it may."""
    if num_earlier_messages:
        return "follow_up"
    if any(conversation_metadata.get(key) for key in STATEFUL_KEYS):
        return "conversation_state"
    if max_tokens is not None:
        return "max_tokens"
    if redact(question) != question:
        return "personal_data"
    return None
