"""Data lifecycle: erase a conversation, a document, a data subject or a whole tenant everywhere it lives,
export a tenant's data, and apply retention policies.

Everywhere means: SQL rows of the core (conversations, messages, tool calls, idempotency records, jobs with
their payloads and results, documents, chunks and stored uploads, model versions, keys and accounts),
Chroma vectors, and the apps' data (their declared tables for a tenant; their ``erase`` hook for
conversations and data subjects). Every erasure leaves one audit row that says what was removed (counts,
never the erased content).
"""

from moesaic.lifecycle.service import Lifecycle, RetentionIn

__all__ = ["Lifecycle", "RetentionIn"]
