"""The version key of cached answers: a fingerprint of what an answer was generated from.

A cached answer is served only while its knowledge base and its app are as they were when it was written:
the knowledge base's id and search settings, and an aggregate of its documents (how many, the sums of their
versions and indexed versions, the newest change: an upload, a removal or a re-index changes it, in one row
however large the knowledge base), and the app's fingerprint (prompt, tools, version; see
``AppManifest.fingerprint``). Old entries are not swept at once: they stop matching, and the next write in
their scope removes them. This module reads; it stores nothing.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select

from moesaic.db import Database
from moesaic.retrieval.tables import DocumentRecord, KnowledgeBaseRecord


def knowledge_base_fingerprint(db: Database, tenant_id: str, knowledge_base: str) -> str:
    """'' for no knowledge base; the same text while nothing the search sees has changed."""
    if not knowledge_base:
        return ""
    with db.session() as session:
        kb = session.scalars(select(KnowledgeBaseRecord).where(
            KnowledgeBaseRecord.tenant_id == tenant_id, KnowledgeBaseRecord.name == knowledge_base)).first()
        if kb is None:
            return "absent"
        documents = session.execute(
            select(func.count(), func.sum(DocumentRecord.version), func.sum(DocumentRecord.indexed_version),
                   func.max(DocumentRecord.updated_at))
            .where(DocumentRecord.knowledge_base_id == kb.id)).one()
    state = {"kb": kb.id, "config": kb.config or {}, "documents": [str(value) for value in documents]}
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def version_key(knowledge_base_state: str, app_fingerprint: str) -> str:
    return hashlib.sha256(f"{knowledge_base_state}|{app_fingerprint}".encode()).hexdigest()
