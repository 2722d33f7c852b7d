"""Where synced or loaded articles go: a knowledge base (through the core's ``add_document``) or memory.

Both write by ``Article.filename``, so the same article written again replaces the earlier version
(an unchanged one is a no-op in a knowledge base): re-running a sync never duplicates.

Not here: fetching (``pubmed``, ``pubmed_sync``), reading files (``literature_files``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.articles import Article


class DocumentWriter(Protocol):
    """What the sink needs of ``moesaic.retrieval.KnowledgeService``."""

    def add_document(self, tenant_id: str, kb: str, filename: str, data: bytes, *,
                     metadata: dict[str, Any] | None = None) -> Any: ...


class KnowledgeBaseSink:
    """Queues each article as a Markdown document of one knowledge base (indexed by the core's
    ingestion jobs). Each ``add_document`` is its own transaction: a failure midway leaves the
    articles before it queued, and the sync's cursor unmoved, so the next run writes them again
    (a no-op for those unchanged)."""

    def __init__(self, knowledge: DocumentWriter, tenant_id: str, kb: str) -> None:
        self.knowledge = knowledge
        self.tenant_id = tenant_id
        self.kb = kb
        self.document_ids: dict[str, str] = {}  # article key -> document id, of what this sink wrote

    def __call__(self, articles: Sequence[Article]) -> None:
        for article in articles:
            info = self.knowledge.add_document(self.tenant_id, self.kb, article.filename,
                                               article.to_markdown().encode("utf-8"),
                                               metadata=article.knowledge_metadata())
            document_id = getattr(info, "id", None)
            if document_id is not None:
                self.document_ids[article.key] = str(document_id)


@dataclass
class MemorySink:
    """Articles by key, and how many writes arrived (tests, benchmarks, dry runs)."""

    articles: dict[str, Article] = field(default_factory=dict)
    num_writes: int = 0
    num_calls: int = 0

    def __call__(self, articles: Sequence[Article]) -> None:
        self.num_calls += 1
        for article in articles:
            self.articles[article.key] = article
            self.num_writes += 1
