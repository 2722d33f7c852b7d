"""KnowledgeService end to end on real SQLite/PostgreSQL, Chroma and MiniLM."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from moesaic.errors import NotFound, UserError
from moesaic.retrieval import KnowledgeService
from moesaic.retrieval.tables import ChunkRecord

RETURNS = b"""# Returns policy

Items can be returned within 30 days of delivery for a full refund.
Opened electronics carry a 15 percent restocking fee.

# Shipping

Standard orders ship within two business days from our warehouse in Ohio.
"""
EDITED = b"""# Returns policy

Items can be returned within 90 days of delivery. Refunds go back to the original card.

# Gift cards

Gift cards never expire and cannot be exchanged for cash.
"""


def keyword_chunk_ids(service: KnowledgeService, kb: str, word: str, tenant: str = "acme") -> set[str]:
    return {c.chunk_id for c in service.search(tenant, kb, word, mode="keyword", top_k=50)}


def fts_rows_for(service: KnowledgeService, document_id: str) -> int:
    """Entries the keyword index itself holds for a document's chunks (not just the chunk rows)."""
    with service.db.session() as session:
        if service.db.dialect == "sqlite":
            # rows of the FTS index whose rowid no longer has a chunk would betray a stale index
            total = session.scalar(text("SELECT count(*) FROM retrieval_chunks_fts"))
            live = session.scalar(select(func.count()).select_from(ChunkRecord))
            assert total == live, "FTS index out of sync with chunk rows"
        return int(
            session.scalar(select(func.count()).where(ChunkRecord.document_id == document_id)) or 0
        )


def test_indexes_and_cites_offsets(service: KnowledgeService) -> None:
    info = service.add_document("acme", "policies", "returns.md", RETURNS, metadata={"tags": ["policy"]})
    assert info.status == "queued"
    [done] = service.wait([info.id])
    assert done.status == "indexed", done.error
    assert done.num_chunks == 2 and done.attempts == 1
    document = service.document_text("acme", "policies", info.id)
    for mode in ("hybrid", "dense", "keyword"):
        hits = service.search("acme", "policies", "how many days do I have to return an item", mode=mode)
        assert hits, mode
        top = hits[0]
        assert "30 days" in top.text, mode
        assert document[top.start_char : top.end_char] == top.text
        assert top.document_id == info.id and top.title == "returns.md"
        assert top.metadata["section"] == "returns.md > Returns policy"


def test_reupload_of_same_file_is_a_noop(service: KnowledgeService) -> None:
    first = service.add_document("acme", "policies", "returns.md", RETURNS)
    [first] = service.wait([first.id])
    again = service.add_document("acme", "policies", "returns.md", RETURNS)
    assert again.id == first.id
    assert again.status == "indexed" and again.version == first.version == 1
    assert again.updated_at == first.updated_at
    docs, counts = service.list_documents("acme", "policies")
    assert len(docs) == 1 and counts["indexed"] == 1 and counts["queued"] == 0


def test_edit_replaces_chunks_in_both_indexes(service: KnowledgeService) -> None:
    first = service.add_document("acme", "policies", "returns.md", RETURNS)
    [first] = service.wait([first.id])
    old_ids = {c.chunk_id for c in service.search("acme", "policies", "restocking fee", top_k=10)}
    assert old_ids
    edited = service.add_document("acme", "policies", "returns.md", EDITED)
    assert edited.id == first.id and edited.version == 2 and edited.status == "queued"
    [edited] = service.wait([edited.id])
    assert edited.status == "indexed"
    assert keyword_chunk_ids(service, "policies", "restocking") == set()  # old text gone from FTS
    assert keyword_chunk_ids(service, "policies", "gift cards")  # new text there
    dense = service.search("acme", "policies", "restocking fee for electronics", mode="dense", top_k=10)
    assert all("restocking" not in c.text for c in dense)
    assert not old_ids & {c.chunk_id for c in dense}
    kb_id = service.list_knowledge_bases("acme")[0]["id"]
    assert service.vector_store.count(kb_id, first.id) == edited.num_chunks  # old vectors removed
    assert fts_rows_for(service, first.id) == edited.num_chunks
    assert "90 days" in service.document_text("acme", "policies", first.id)


def test_corrupt_pdf_fails_readably_while_others_index(service: KnowledgeService) -> None:
    bad = service.add_document("acme", "kb", "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    good = service.add_document("acme", "kb", "notes.txt", b"The warehouse moved to Dayton in March.")
    bad, good = service.wait([bad.id, good.id])
    assert good.status == "indexed"
    assert bad.status == "failed"
    assert bad.error is not None and "broken.pdf" in bad.error and "PDF" in bad.error
    assert "RetryError" not in bad.error
    assert bad.attempts == 1  # a file that cannot be parsed is not retried
    _, counts = service.list_documents("acme", "kb")
    assert counts["failed"] == 1 and counts["indexed"] == 1
    assert [c.document_id for c in service.search("acme", "kb", "warehouse Dayton")] == [good.id]


def test_delete_leaves_no_trace_in_either_index(service: KnowledgeService) -> None:
    keep = service.add_document("acme", "kb", "keep.txt", b"Our support line opens at 9am on weekdays.")
    gone = service.add_document("acme", "kb", "returns.md", RETURNS)
    service.wait([keep.id, gone.id])
    kb_id = service.list_knowledge_bases("acme")[0]["id"]
    assert service.vector_store.count(kb_id, gone.id) == 2
    service.delete_document("acme", "kb", gone.id)
    assert service.vector_store.count(kb_id, gone.id) == 0
    assert fts_rows_for(service, gone.id) == 0
    assert keyword_chunk_ids(service, "kb", "refund restocking warehouse") == set()
    for mode in ("hybrid", "dense"):
        assert all(c.document_id == keep.id for c in service.search("acme", "kb", "refund", mode=mode, top_k=10))
    with pytest.raises(NotFound):
        service.get_document("acme", "kb", gone.id)
    assert [d.id for d in service.list_documents("acme", "kb")[0]] == [keep.id]


def test_one_tenant_never_sees_another_tenants_chunks(service: KnowledgeService) -> None:
    ours = service.add_document("acme", "shared-name", "ours.txt", b"Acme refunds take five days.")
    theirs = service.add_document("globex", "shared-name", "theirs.txt", b"Globex refunds take five days.")
    service.wait([ours.id, theirs.id])
    for mode in ("hybrid", "dense", "keyword"):
        hits = service.search("acme", "shared-name", "Globex refunds five days", mode=mode, top_k=10)
        assert [c.document_id for c in hits] == [ours.id], mode
    assert service.search("initech", "shared-name", "refunds") == []
    with pytest.raises(NotFound):
        service.get_document("acme", "shared-name", theirs.id)
    with pytest.raises(NotFound):
        service.delete_document("acme", "shared-name", theirs.id)
    assert [kb["name"] for kb in service.list_knowledge_bases("initech")] == []


def test_filters_apply_to_both_sides(service: KnowledgeService) -> None:
    a = service.add_document(
        "acme", "kb", "a.txt", b"Refunds are issued within five days.",
        metadata={"tags": ["policy"], "source": "handbook", "date": "2024-01-10"},
    )
    b = service.add_document(
        "acme", "kb", "b.txt", b"Refunds for damaged goods are immediate.",
        metadata={"tags": ["faq"], "source": "wiki", "date": "2025-06-01"},
    )
    service.wait([a.id, b.id])
    cases = [
        ({"tags": ["faq"]}, {b.id}),
        ({"source": "handbook"}, {a.id}),
        ({"document_id": [a.id]}, {a.id}),
        ({"date_from": "2025-01-01"}, {b.id}),
        ({"date_to": "2024-12-31"}, {a.id}),
        ({"tags": ["nothing"]}, set()),
    ]
    for filters, expected in cases:
        for mode in ("hybrid", "dense", "keyword"):
            hits = service.search("acme", "kb", "refunds", mode=mode, top_k=10, filters=filters)
            assert {c.document_id for c in hits} == expected, (filters, mode)
    with pytest.raises(UserError) as err:
        service.search("acme", "kb", "refunds", filters={"colour": "red"})
    assert "valid keys" in str(err.value) and err.value.field == "filters"


def test_rejects_bad_input_with_named_fields(service: KnowledgeService) -> None:
    cases = [
        (("acme", "kb", "virus.exe", b"MZ"), "file", ".pdf"),
        (("acme", "kb", "empty.txt", b""), "file", "empty"),
        (("acme", "bad name!", "a.txt", b"x"), "knowledge_base", "invalid knowledge base"),
    ]
    for args, field, words in cases:
        with pytest.raises(UserError) as err:
            service.add_document(*args)
        assert err.value.field == field and words in str(err.value)
    with pytest.raises(UserError) as err:
        service.search("acme", "kb", "x", mode="sparse")
    assert "hybrid, dense, keyword" in str(err.value)
    assert service.search("acme", "no-such-kb", "anything") == []


def test_mmr_diversifies_near_duplicates(service: KnowledgeService) -> None:
    docs = [
        service.add_document("acme", "kb", f"dup{i}.txt", f"Refunds are paid within five days {'.' * i}".encode())
        for i in range(3)
    ]
    other = service.add_document("acme", "kb", "other.txt", b"Refund requests need the original receipt.")
    service.wait([d.id for d in docs] + [other.id])
    plain = service.search("acme", "kb", "how are refunds paid", top_k=2)
    diverse = service.search("acme", "kb", "how are refunds paid", top_k=2, mmr=0.3)
    assert all(c.document_id != other.id for c in plain)
    assert other.id in {c.document_id for c in diverse}


def test_per_kb_weights_select_the_dense_or_keyword_ranking(service: KnowledgeService) -> None:
    service.configure_knowledge_base("acme", "kb", dense_weight=0.0)
    d = service.add_document("acme", "kb", "a.txt", b"Refunds are paid within five days.")
    service.wait([d.id])
    hybrid = service.search("acme", "kb", "refunds", top_k=1)
    keyword = service.search("acme", "kb", "refunds", mode="keyword", top_k=1)
    assert hybrid[0].metadata["dense_rank"] == 1 and keyword[0].chunk_id == hybrid[0].chunk_id
    with pytest.raises(UserError) as err:
        service.configure_knowledge_base("acme", "kb", dense_weight=-1)
    assert "dense_weight" in str(err.value)


class FlakyEmbedder:
    """The real model behind an embedder whose first call fails, like a transient outage."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.dimension, self.failures = inner, inner.name, inner.dimension, 0

    def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        if self.failures == 0:
            self.failures += 1
            raise RuntimeError("embedding service unavailable")
        return self.inner.embed_documents(texts)

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        return self.inner.embed_query(text)


def test_transient_failure_is_retried_with_backoff(make_service, embedder) -> None:  # type: ignore[no-untyped-def]
    service = make_service(embedder=FlakyEmbedder(embedder))
    info = service.add_document("acme", "kb", "a.txt", b"Refunds are paid within five days.")
    [done] = service.wait([info.id], timeout=60)
    assert done.status == "indexed"
    assert done.attempts == 2 and done.error is None
    assert service.search("acme", "kb", "refunds paid", mode="keyword")[0].document_id == info.id


def test_keyword_search_drops_the_most_common_terms_past_its_budget(service: KnowledgeService) -> None:
    docs = [service.add_document("acme", "kb", f"r{i}.txt", f"Refund rule number {i}.".encode()) for i in range(4)]
    walrus = service.add_document("acme", "kb", "w.txt", b"The walrus refund desk.")
    service.wait([d.id for d in docs] + [walrus.id])
    assert len(service.search("acme", "kb", "refund walrus", mode="keyword", top_k=10)) == 5
    kb_id = service.list_knowledge_bases("acme")[0]["id"]
    if service.db.dialect == "postgresql":  # term frequencies come from the planner's statistics
        with service.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE retrieval_chunks"))
    from moesaic.retrieval.keyword import KeywordIndex

    with service.db.session() as session:
        hits = KeywordIndex(service.db.dialect, max_postings=2).search(session, kb_id, "refund walrus", 10)
    assert len(hits) == 1 and hits[0][0].startswith(walrus.id)
