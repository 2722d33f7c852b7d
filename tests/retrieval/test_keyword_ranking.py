"""Keyword ranking (issue 16): both databases rank with BM25, so a rare query term outweighs a common one
however often the common one repeats (PostgreSQL's ts_rank had no IDF and ranked by repetition and the
title); PostgreSQL scores only a bounded pool of candidates, and reads each one's term frequencies right."""

from __future__ import annotations

from moesaic.retrieval import KnowledgeService
from moesaic.retrieval.keyword import KeywordIndex, _bm25


def test_a_rare_term_outranks_a_repeated_common_one(service: KnowledgeService) -> None:
    common = [service.add_document("acme", "kb", f"r{i}.txt", f"A refund rule, number {i}.".encode()) for i in range(8)]
    loud = service.add_document("acme", "kb", "loud.md", b"# Refund refunds\n\nRefund, refund: every refund is refunded.")
    rare = service.add_document("acme", "kb", "rare.txt", b"Ask at the walrus desk on the second floor.")
    service.wait([d.id for d in [*common, loud, rare]])
    hits = service.search("acme", "kb", "refund walrus", mode="keyword", top_k=10)
    assert hits[0].document_id == rare.id, [h.document_id for h in hits]
    assert hits[1].document_id == loud.id  # among the common term's matches, the one that repeats it most
    assert len(hits) == 10


def test_postgres_scores_a_bounded_pool_with_bm25(service: KnowledgeService) -> None:
    docs = [service.add_document("acme", "kb", f"d{i}.txt", f"Shipping note {i}: parcels ship daily.".encode())
            for i in range(5)]
    service.wait([d.id for d in docs])
    kb_id = service.list_knowledge_bases("acme")[0]["id"]
    with service.db.session() as session:
        hits = KeywordIndex(service.db.dialect).search(session, kb_id, "shipping parcels", 3)
    assert len(hits) == 3 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_term_frequencies_are_read_from_the_tsvector_text() -> None:
    rows = [("a", "'desk':4 'refund':1A,2,7 'walru':3", 3, None), ("b", "'o''brien':2 'refund':1", 2, None),
            ("c", "'nonrefund':1 'x':2", 2, None)]
    idf = {"refund": 0.2, "walru": 2.0, "o'brien": 1.0}
    scored = dict(_bm25(rows, idf, title_weight=2.0, n=10))
    assert scored["c"] == 0.0  # 'refund' inside another lexeme is no match
    assert scored["a"] > scored["b"] > 0  # walrus (rare) and refund four times (a title position counts 2)
    only_refund_a = _bm25([rows[0]], {"refund": 1.0}, title_weight=2.0, n=1)[0][1]
    one_position = _bm25([("z", "'refund':1", 3, None)], {"refund": 1.0}, title_weight=2.0, n=1)[0][1]
    assert only_refund_a > one_position
    assert [c for c, _ in _bm25(rows, idf, 2.0, n=2)] == ["a", "b"]
