from __future__ import annotations

from moesaic.retrieval import KnowledgeService
from moesaic.retrieval.rerank import LLMReranker


def test_llm_reranker_parses_grades_and_keeps_order_on_ties() -> None:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return "1: 2\n2: 9\n3: 2\nnoise"

    scores = LLMReranker(complete).score("refund window?", ["a", "b", "c"])
    assert sorted(range(3), key=lambda i: -scores[i]) == [1, 0, 2]
    assert "Query: refund window?" in prompts[0] and "[3] c" in prompts[0]
    unusable = LLMReranker(lambda _: "I cannot rate these").score("q", ["a", "b"])
    assert unusable[0] > unusable[1]  # no grades: the fused order stands


def test_search_applies_the_configured_reranker(make_service) -> None:  # type: ignore[no-untyped-def]
    def prefer_receipts(prompt: str) -> str:
        passages = [line for line in prompt.splitlines() if line.startswith("[")]
        return "\n".join(f"{i}: {9 if 'receipt' in p else 1}" for i, p in enumerate(passages, start=1))

    service: KnowledgeService = make_service(reranker=LLMReranker(prefer_receipts))
    a = service.add_document("acme", "kb", "a.txt", b"Refunds are paid within five days.")
    b = service.add_document("acme", "kb", "b.txt", b"Refund requests need the original receipt.")
    service.wait([a.id, b.id])
    assert service.search("acme", "kb", "when are refunds paid", top_k=1)[0].document_id == b.id
    assert service.search("acme", "kb", "when are refunds paid", top_k=1, rerank=False)[0].document_id == a.id
