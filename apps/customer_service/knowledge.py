"""The app's own knowledge: the store policy and our FAQ, and what offline mode says when neither helps.

``knowledge_documents`` is the manifest hook the platform calls to ingest them into the app's
knowledge base (once per tenant; unchanged bytes are a no-op), so answers about policy cite them.
This module only builds bytes and text; ingestion and retrieval belong to the platform.
"""

from __future__ import annotations

from pathlib import Path

from apps.customer_service.prompts import policy_text
from moesaic.config import Settings

FAQ_PATH = Path(__file__).parent / "seed" / "faq.md"
POLICY_FILENAME = "policy.md"
FAQ_FILENAME = "faq.md"

OFFLINE_FALLBACK = (
    "I can't do that here; shall I pass you to a person? Reply \"yes\" (or \"talk to a person\") and I'll pass "
    "this conversation to a member of our team, who will reply here. "
    "I can look things up myself if you send me an order id (like #W1234567), the email on your "
    "account, or your full name and zip code."
)


def knowledge_documents(settings: Settings) -> list[tuple[str, bytes]]:
    """The policy the agent follows (the dataset's or our demo policy) and our FAQ, as (filename, bytes)."""
    return [
        (POLICY_FILENAME, (policy_text(settings) + "\n").encode("utf-8")),
        (FAQ_FILENAME, FAQ_PATH.read_bytes()),
    ]
