"""Ingestion in batches across documents (issue 16, throughput): the vectors of a batch equal those of
each chunk embedded alone, documents of two tenants in one batch each land in their own knowledge
base, and a document that fails inside a batch fails alone, with its own cause."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import select

from moesaic.retrieval import KnowledgeService
from moesaic.retrieval.embeddings import SentenceTransformerEmbedder, resolve_precision
from moesaic.retrieval.onnx_embedder import OnnxEmbedder
from moesaic.retrieval.tables import ChunkRecord, DocumentRecord

TEXTS = {
    "short.txt": "Zebras graze on the savanna.",
    "medium.txt": "Quartz is a hard mineral. " * 12,
    "long.txt": "\n\n".join(f"Paragraph {i}: the lighthouse keeper logged {i * 3} ships that night." for i in range(40)),
}


def run_batch(service: KnowledgeService, infos: list[tuple[str, int]]) -> dict[str, str]:
    """Take the documents in one delivery and run them as one batch, as the ingest job does."""
    taken = service.ingestor.take_many([(doc_id, version, f"owner-{doc_id}") for doc_id, version in infos])
    assert len(taken) == len(infos)
    return service.ingestor.process_many(taken)


def chunk_rows(service: KnowledgeService, document_id: str) -> list[ChunkRecord]:
    with service.db.session() as session:
        rows = list(session.scalars(select(ChunkRecord).where(ChunkRecord.document_id == document_id)
                                    .order_by(ChunkRecord.seq)))
        session.expunge_all()
    return rows


def test_batched_embeddings_equal_unbatched(embedder: SentenceTransformerEmbedder | OnnxEmbedder) -> None:
    texts = [TEXTS["short.txt"], TEXTS["medium.txt"], TEXTS["long.txt"][:900], "x"]
    together = embedder.embed_documents(texts)
    alone = np.stack([embedder.embed_documents([text])[0] for text in texts])
    assert together.shape == (4, embedder.dimension) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    if embedder.precision == "fp32":
        np.testing.assert_allclose(together, alone, atol=1e-5)
    else:  # padding changes bf16 rounding; int8 (onnx) quantises each call's activations with one scale
        floor = 0.99 if embedder.precision == "bf16" else 0.97  # int8 measured: min 0.981 (the text "x")
        assert float((together * alone).sum(axis=1).min()) > floor


def test_each_chunk_gets_its_own_vector_in_a_mixed_length_batch(
    make_service: Callable[..., KnowledgeService], embedder: SentenceTransformerEmbedder | OnnxEmbedder
) -> None:
    """Chunks are sorted by length across documents before embedding; each vector must still land on
    its own chunk id."""
    service = make_service(start_worker=False)
    infos = [service.add_document("acme", "kb", name, text.encode()) for name, text in TEXTS.items()]
    outcomes = run_batch(service, [(info.id, 1) for info in infos])
    assert set(outcomes.values()) == {"indexed"}
    for info in infos:
        rows = chunk_rows(service, info.id)
        assert rows
        with service.db.session() as session:
            kb_id = session.get(DocumentRecord, info.id).knowledge_base_id  # type: ignore[union-attr]
        stored = service.vector_store.get_vectors(kb_id, [row.chunk_id for row in rows])
        expected = embedder.embed_documents([f"{row.title}\n{row.text}" for row in rows])
        floor = 0.97 if embedder.precision == "int8" else 0.9999  # int8: its batch mates move a vector a little
        for row, vector in zip(rows, expected):
            assert float(stored[row.chunk_id] @ vector) > floor, row.chunk_id


def test_two_tenants_in_one_batch_land_in_their_own_knowledge_base(
    make_service: Callable[..., KnowledgeService],
) -> None:
    service = make_service(start_worker=False)
    mine = service.add_document("acme", "kb", "zebra.txt", b"The zebra quartz number is 4417.")
    theirs = service.add_document("globex", "kb", "zebra.txt", b"The zebra quartz number is 9902.")
    assert set(run_batch(service, [(mine.id, 1), (theirs.id, 1)]).values()) == {"indexed"}
    for tenant, number, other in (("acme", "4417", "9902"), ("globex", "9902", "4417")):
        for mode in ("dense", "keyword", "hybrid"):
            hits = service.search(tenant, "kb", "zebra quartz number", top_k=5, mode=mode)
            assert hits and all(number in hit.text and other not in hit.text for hit in hits), (tenant, mode)
    with service.db.session() as session:
        kbs = {doc.tenant_id: doc.knowledge_base_id for doc in session.scalars(select(DocumentRecord))}
    assert kbs["acme"] != kbs["globex"]
    for tenant, kb_id in kbs.items():
        assert service.vector_store.count(kb_id) == 1, tenant


class PoisonEmbedder:
    """Wraps the real embedder; any batch holding the word POISON fails."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name, self.dimension, self.calls = inner, "poison", inner.dimension, 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if any("POISON" in text for text in texts):
            raise RuntimeError("the model rejected this text")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def test_a_document_that_fails_to_embed_does_not_fail_its_batch(
    make_service: Callable[..., KnowledgeService], embedder: SentenceTransformerEmbedder | OnnxEmbedder
) -> None:
    poison = PoisonEmbedder(embedder)
    service = make_service(start_worker=False, embedder=poison)
    good = service.add_document("acme", "kb", "good.txt", b"Lighthouses guide ships at night.")
    bad = service.add_document("acme", "kb", "bad.txt", b"This text holds POISON for the model.")
    other = service.add_document("globex", "kb", "other.txt", b"Glaciers carve valleys slowly.")
    outcomes = run_batch(service, [(good.id, 1), (bad.id, 1), (other.id, 1)])
    assert outcomes == {good.id: "indexed", bad.id: "retry", other.id: "indexed"}
    assert poison.calls == 4  # the batch, then each document alone
    [bad_now] = service.wait([bad.id], timeout=0)
    assert bad_now.status == "queued" and "the model rejected this text" in (bad_now.error or "")
    assert len(chunk_rows(service, good.id)) == 1 and len(chunk_rows(service, other.id)) == 1
    assert chunk_rows(service, bad.id) == []


def test_a_document_whose_vectors_fail_to_store_does_not_fail_its_batch(
    make_service: Callable[..., KnowledgeService],
) -> None:
    service = make_service(start_worker=False)
    good = service.add_document("acme", "kb", "good.txt", b"Lighthouses guide ships at night.")
    bad = service.add_document("acme", "kb", "bad.txt", b"Volcanoes vent ash and steam.")
    store = service.vector_store
    real_upsert = store.upsert
    calls: list[int] = []

    def upsert(kb_id: str, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, object]]) -> None:
        calls.append(len(ids))
        if any(chunk_id.startswith(bad.id) for chunk_id in ids):
            raise OSError("disk full while writing vectors")
        real_upsert(kb_id, ids, vectors, metadatas)

    store.upsert = upsert  # type: ignore[method-assign]
    outcomes = run_batch(service, [(good.id, 1), (bad.id, 1)])
    assert outcomes == {good.id: "indexed", bad.id: "retry"}
    assert calls == [2, 1, 1]  # one call for the knowledge base, then each document alone
    [bad_now] = service.wait([bad.id], timeout=0)
    assert "OSError: disk full while writing vectors" in (bad_now.error or "")


def test_a_document_deleted_mid_batch_is_dropped_and_the_rest_indexed(
    make_service: Callable[..., KnowledgeService], embedder: SentenceTransformerEmbedder | OnnxEmbedder
) -> None:
    """The batched lease renewal notices a document that is gone and stops its work."""
    service = make_service(start_worker=False)
    keep = service.add_document("acme", "kb", "keep.txt", b"Lighthouses guide ships at night.")
    gone = service.add_document("acme", "kb", "gone.txt", b"Volcanoes vent ash and steam.")
    real = embedder.embed_documents

    class DeletingEmbedder:
        name, dimension = "deleting", embedder.dimension

        def embed_documents(self, texts: list[str]) -> np.ndarray:
            service.delete_document("acme", "kb", gone.id)
            return real(texts)

        def embed_query(self, text: str) -> np.ndarray:
            return embedder.embed_query(text)

    service.ingestor._embedder = lambda name: DeletingEmbedder()  # type: ignore[assignment,misc,return-value]
    outcomes = run_batch(service, [(keep.id, 1), (gone.id, 1)])
    assert outcomes == {keep.id: "indexed", gone.id: "lost"}
    with service.db.session() as session:
        kb_id = session.get(DocumentRecord, keep.id).knowledge_base_id  # type: ignore[union-attr]
    assert service.vector_store.count(kb_id, gone.id) == 0 and service.vector_store.count(kb_id, keep.id) == 1


def test_precision_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOESAIC_EMBEDDER_PRECISION", "fp32")
    assert resolve_precision() == "fp32"
    assert resolve_precision("bf16") == "bf16"
    monkeypatch.setenv("MOESAIC_EMBEDDER_PRECISION", "fp8")
    with pytest.raises(ValueError, match="unknown embedder precision 'fp8'"):
        resolve_precision()


def test_bf16_vectors_stay_close_to_fp32(embedder: SentenceTransformerEmbedder | OnnxEmbedder) -> None:
    """bf16 (autocast) changes vectors by rounding only; queries use the same path as documents."""
    bf16 = SentenceTransformerEmbedder(batch_size=8, precision="bf16")
    fp32 = SentenceTransformerEmbedder(batch_size=8, precision="fp32")
    texts = [TEXTS["short.txt"], TEXTS["medium.txt"]]
    low, full = bf16.embed_documents(texts), fp32.embed_documents(texts)
    assert low.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    assert float((low * full).sum(axis=1).min()) > 0.999
    assert float(bf16.embed_query(texts[0]) @ full[0]) > 0.999
