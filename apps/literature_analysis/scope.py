"""The abstracts a request is about: retrieved from a knowledge base, or named by PMID in it.

Documents are the knowledge base's texts (a PubMed or SciFact article is a Markdown document: a ``#``
title, then its abstract, see ``connectors.articles``). Each becomes a ``ScopedAbstract``: its
checkable sentences with character offsets into the stored document text (``text[start:end]`` is the
sentence; headings and the retraction banner are not sentences of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from moesaic.errors import NotFound, UserError
from moesaic import split_sentences
from moesaic.types import SentenceSpan

from apps.literature_analysis.data import Abstract

CANDIDATE_CHUNKS = 40
ONLY_CANDIDATE_CHUNKS = 200  # limited to a saved query's PMIDs: look further down the ranking


@dataclass(frozen=True)
class ScopedAbstract:
    document_id: str
    pmid: str | None
    title: str
    text: str  # the stored document text
    spans: tuple[SentenceSpan, ...]
    metadata: dict[str, Any]
    retrieval_score: float = 0.0

    def as_abstract(self) -> Abstract:
        return Abstract(self.document_id, self.title, tuple(s.text for s in self.spans))


def sentences_of(text: str) -> tuple[str, tuple[SentenceSpan, ...]]:
    """(title, sentence spans) of a stored document's text."""
    title, spans = "", []
    for sentence in split_sentences(text):
        if sentence.text.startswith("#"):
            title = title or sentence.text.lstrip("#").strip()
            continue
        if sentence.text.startswith(">"):
            continue
        spans.append(SentenceSpan(sentence.start, sentence.end, sentence.text))
    return title, tuple(spans)


def _scoped(knowledge: Any, tenant_id: str, kb: str, info: Any, score: float = 0.0) -> ScopedAbstract:
    text = knowledge.document_text(tenant_id, kb, info.id)
    title, spans = sentences_of(text)
    metadata = dict(info.metadata or {})
    pmid = metadata.get("pmid") or None
    return ScopedAbstract(info.id, str(pmid) if pmid else None, str(metadata.get("title") or title or info.title), text, spans, metadata, score)


def require_knowledge_base(knowledge: Any, tenant_id: str, kb: str) -> None:
    if not kb.strip():
        raise UserError("knowledge_base is empty", field="knowledge_base")
    knowledge.require_knowledge_base(tenant_id, kb)


def by_pmids(knowledge: Any, tenant_id: str, kb: str, pmids: Sequence[str]) -> list[ScopedAbstract]:
    """The knowledge base's indexed documents for ``pmids``, in that order; an unknown one is a 404 naming it."""
    infos, _ = knowledge.list_documents(tenant_id, kb)
    index: dict[str, Any] = {}
    for info in infos:
        meta = info.metadata or {}
        for key in (meta.get("pmid"), meta.get("source_id")):
            if key and info.status == "indexed":
                index.setdefault(str(key), info)
    out = []
    for position, pmid in enumerate(pmids):
        info = index.get(str(pmid).strip())
        if info is None:
            raise NotFound(f"PMID {pmid!r} is not an indexed abstract of knowledge base {kb!r}", field=f"pmids[{position}]")
        out.append(_scoped(knowledge, tenant_id, kb, info))
    return out


def _pmid_of(info: Any) -> str:
    meta = info.metadata or {}
    return str(meta.get("pmid") or meta.get("source_id") or "")


def retrieved(knowledge: Any, tenant_id: str, kb: str, query: str, limit: int, *, only: set[str] | None = None,
              field: str = "claim") -> list[ScopedAbstract]:
    """The best ``limit`` documents for ``query`` (hybrid search over chunks, grouped by document);
    ``only``: among the documents of these PMIDs (a saved query's)."""
    chunks = knowledge.search(tenant_id, kb, query, top_k=CANDIDATE_CHUNKS if only is None else ONLY_CANDIDATE_CHUNKS)
    order: dict[str, float] = {}
    for chunk in chunks:
        order.setdefault(chunk.document_id, chunk.score)
    if order and not knowledge.search(tenant_id, kb, query, top_k=1, mode="keyword"):
        order = {}  # dense search always finds a nearest abstract; one that shares no word with the query is no match
    infos = {info.id: info for info in knowledge.list_documents(tenant_id, kb)[0]}
    if only is not None:
        order = {doc_id: score for doc_id, score in order.items() if doc_id in infos and _pmid_of(infos[doc_id]) in only}
    if not order:
        raise NotFound(f"no abstract of knowledge base {kb!r} matches {query[:80]!r}", field=field)
    return [_scoped(knowledge, tenant_id, kb, infos[doc_id], score) for doc_id, score in list(order.items())[:limit] if doc_id in infos]
