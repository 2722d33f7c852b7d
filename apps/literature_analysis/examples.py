"""Training pairs for the four cross-encoders, built from SciFact's training claims and PubMedQA's
training questions (never from the held-out parts). Deterministic given the seed. No torch.

- rationale: (claim, sentence) -> 1 when the sentence is in a gold rationale; every sentence of every
  cited abstract, plus ``negative_sentences`` sentences of each of ``negative_docs`` retrieved but
  uncited abstracts (hard negatives);
- label (``label_input="rationale"``): (claim, rationale sentences) -> SUPPORT/CONTRADICT; each gold
  rationale alone, all of them, all of them with one other sentence of the abstract; NOT_ENOUGH_INFO from
  1-2 non-rationale sentences of cited and retrieved abstracts;
- label (``"abstract"``): (claim, whole abstract) -> its label, NOT_ENOUGH_INFO for cited abstracts
  without evidence and retrieved uncited ones;
- rerank: (claim, title + abstract) -> 1 for cited abstracts, 0 for the retriever's top uncited ones;
- pubmedqa: (question, labelled contexts) -> yes/no/maybe.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from apps.literature_analysis.claimcheck import abstract_input
from apps.literature_analysis.data import LABELS, PUBMEDQA_LABELS, Abstract, Claim, Question

Pair = tuple[str, str, int]
Negatives = Callable[[Claim], list[str]]  # the retriever's uncited candidates for a claim, best first


def rationale_pairs(claims: Sequence[Claim], corpus: dict[str, Abstract], negatives: Negatives, seed: int, negative_docs: int = 3, negative_sentences: int = 3) -> list[Pair]:
    rng = random.Random(seed)
    out: list[Pair] = []
    for claim in claims:
        for doc_id in claim.cited_doc_ids:
            doc = corpus.get(doc_id)
            if doc is None:
                continue
            evidence = claim.evidence.get(doc_id)
            gold = evidence.sentences if evidence else set()
            out.extend((claim.text, sentence, int(i in gold)) for i, sentence in enumerate(doc.sentences))
        for doc_id in negatives(claim)[:negative_docs]:
            sentences = list(corpus[doc_id].sentences)
            out.extend((claim.text, s, 0) for s in rng.sample(sentences, min(negative_sentences, len(sentences))))
    return out


def _label(name: str) -> int:
    return LABELS.index(name)


def label_pairs(claims: Sequence[Claim], corpus: dict[str, Abstract], negatives: Negatives, seed: int, label_input: str = "rationale", negative_docs: int = 2) -> list[Pair]:
    rng = random.Random(seed)
    nei = _label("NOT_ENOUGH_INFO")
    out: list[Pair] = []

    def some_sentences(doc: Abstract, exclude: set[int]) -> list[int]:
        pool = [i for i in range(len(doc.sentences)) if i not in exclude]
        return sorted(rng.sample(pool, min(len(pool), rng.choice((1, 2))))) if pool else []

    for claim in claims:
        for doc_id in claim.cited_doc_ids:
            doc = corpus.get(doc_id)
            if doc is None:
                continue
            evidence = claim.evidence.get(doc_id)
            if label_input == "abstract":
                out.append((claim.text, abstract_input(doc), _label(evidence.label) if evidence else nei))
                continue
            if evidence is None:
                chosen = some_sentences(doc, set())
                if chosen:
                    out.append((claim.text, " ".join(doc.sentences[i] for i in chosen), nei))
                continue
            label = _label(evidence.label)
            for group in evidence.sentence_sets:
                out.append((claim.text, " ".join(doc.sentences[i] for i in sorted(group)), label))
            gold = sorted(evidence.sentences)
            if len(evidence.sentence_sets) > 1:
                out.append((claim.text, " ".join(doc.sentences[i] for i in gold), label))
            extra = some_sentences(doc, set(gold))[:1]
            if extra:
                out.append((claim.text, " ".join(doc.sentences[i] for i in sorted(gold + extra)), label))
                out.append((claim.text, doc.sentences[extra[0]], nei))
        for doc_id in negatives(claim)[:negative_docs]:
            doc = corpus[doc_id]
            if label_input == "abstract":
                out.append((claim.text, abstract_input(doc), nei))
            else:
                chosen = some_sentences(doc, set())
                if chosen:
                    out.append((claim.text, " ".join(doc.sentences[i] for i in chosen), nei))
    return out


def rerank_pairs(claims: Sequence[Claim], corpus: dict[str, Abstract], negatives: Negatives, negative_docs: int = 10) -> list[Pair]:
    from apps.literature_analysis.retrieve import doc_text

    out: list[Pair] = []
    for claim in claims:
        out.extend((claim.text, doc_text(corpus[d]), 1) for d in claim.cited_doc_ids if d in corpus)
        out.extend((claim.text, doc_text(corpus[d]), 0) for d in negatives(claim)[:negative_docs])
    return out


def question_context(question: Question) -> str:
    if len(question.labels) == len(question.contexts):
        return " ".join(f"{label.lower()}: {text}" for label, text in zip(question.labels, question.contexts))
    return " ".join(question.contexts)


def pubmedqa_pairs(questions: Sequence[Question]) -> list[Pair]:
    return [(q.question, question_context(q), PUBMEDQA_LABELS.index(q.answer)) for q in questions if q.answer in PUBMEDQA_LABELS]
