"""Claim checks and contradictions over a scope (a knowledge base, PMIDs in it, or a saved query's PMIDs: ``only``), offline or with the
configured chat model. Returns plain dataclasses; the routes turn them into responses.

Offline: the trained reranker orders the retrieved abstracts and drops those it scores below the
shipped ``min_retrieval_score`` (abstracts named by PMID are always checked), then ``claimcheck``
labels each with its rationale sentences. With ``mode="llm"`` the chat model labels the same abstracts
(``llm.check_with_model``) and its rationale sentence numbers map back to the same spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from moesaic.errors import NotFound, UserError
from moesaic.types import SentenceSpan

from apps.literature_analysis.claimcheck import AbstractVerdict, check_abstracts, overall_verdict
from apps.literature_analysis.models import ClaimModels
from apps.literature_analysis.retrieve import doc_text
from apps.literature_analysis.scope import ScopedAbstract, by_pmids, require_knowledge_base, retrieved

MODES = ("model", "llm")
MAX_CLAIM_CHARS = 2000


@dataclass(frozen=True)
class RationaleSentence:
    index: int  # position among the abstract's sentences
    span: SentenceSpan
    score: float


@dataclass(frozen=True)
class CheckedAbstract:
    abstract: ScopedAbstract
    label: str
    confidence: float
    rationale: tuple[RationaleSentence, ...]
    label_probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimCheck:
    claim: str
    verdict: str
    confidence: float
    mode: str
    model_version: str
    abstracts: tuple[CheckedAbstract, ...]


def clean_claim(claim: str, field: str = "claim") -> str:
    text = " ".join(claim.split())
    if not text:
        raise UserError(f"{field} is empty", field=field)
    if len(text) > MAX_CLAIM_CHARS:
        raise UserError(f"{field} is longer than {MAX_CLAIM_CHARS} characters", field=field)
    return text


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}", field="mode")
    return mode


def named_abstracts(ctx: Any, tenant_id: str, kb: str, pmids: Sequence[str], only: set[str] | None) -> list[ScopedAbstract]:
    """The abstracts named by PMID; with ``only`` (a saved query's PMIDs) each must be one of them."""
    if not pmids:
        raise UserError("pmids is empty; leave it out to search the knowledge base", field="pmids")
    for position, pmid in enumerate(pmids):
        if only is not None and str(pmid).strip() not in only:
            raise NotFound(f"PMID {pmid!r} is not an abstract of the saved query", field=f"pmids[{position}]")
    return by_pmids(ctx.knowledge, tenant_id, kb, pmids)


def scope_abstracts(ctx: Any, models: ClaimModels, tenant_id: str, kb: str, claim: str, pmids: Sequence[str] | None, max_abstracts: int,
                    only: set[str] | None = None) -> list[ScopedAbstract]:
    require_knowledge_base(ctx.knowledge, tenant_id, kb)
    if pmids is not None:
        return named_abstracts(ctx, tenant_id, kb, pmids, only)
    candidates = retrieved(ctx.knowledge, tenant_id, kb, claim, max(10, max_abstracts), only=only)
    if models.reranker is None:
        return candidates[:max_abstracts]
    scores = models.reranker.probabilities([(claim, doc_text(c.as_abstract())) for c in candidates])
    ranked = sorted(zip(candidates, (row[1] for row in scores)), key=lambda pair: -pair[1])
    kept = [c for c, score in ranked if score >= models.settings.min_retrieval_score][:max_abstracts]
    if not kept:
        raise NotFound(f"no abstract of knowledge base {kb!r} is relevant to the claim (best reranker score "
                       f"{ranked[0][1]:.2f} < {models.settings.min_retrieval_score})", field="claim")
    return [replace(c, retrieval_score=float(s)) for c, s in ranked if any(c is k for k in kept)]


def _checked(abstract: ScopedAbstract, verdict: AbstractVerdict) -> CheckedAbstract:
    rationale = tuple(
        RationaleSentence(i, abstract.spans[i], float(verdict.sentence_scores[i]) if i < len(verdict.sentence_scores) else 1.0)
        for i in verdict.rationale
        if 0 <= i < len(abstract.spans)
    )
    return CheckedAbstract(abstract, verdict.label, float(verdict.confidence), rationale, dict(verdict.label_probabilities))


def check_claim(
    ctx: Any, models: ClaimModels, tenant_id: str, claim: str, *, knowledge_base: str, pmids: Sequence[str] | None = None,
    max_abstracts: int = 3, mode: str = "model", only: set[str] | None = None,
) -> ClaimCheck:
    claim = clean_claim(claim)
    check_mode(mode)
    if not 1 <= max_abstracts <= 20:
        raise UserError("max_abstracts must be between 1 and 20", field="max_abstracts")
    abstracts = scope_abstracts(ctx, models, tenant_id, knowledge_base, claim, pmids, max_abstracts, only)
    if mode == "llm":
        from apps.literature_analysis.llm import check_with_model

        verdicts = check_with_model(ctx.model, claim, abstracts)
        version = f"llm:{getattr(ctx.model, 'name', 'model')}"
    else:
        verdicts = check_abstracts(claim, [a.as_abstract() for a in abstracts], models.selector, models.labeler, models.settings.check)
        version = models.version
    label, confidence = overall_verdict(verdicts)
    checked = tuple(_checked(a, v) for a, v in zip(abstracts, verdicts))
    return ClaimCheck(claim, label, float(confidence), mode, version, checked)


SUMMARY_MODES = ("extractive", "abstractive")


@dataclass(frozen=True)
class Summary:
    query: str
    mode: str
    text: str
    groups: list[list[Any]]  # summary.SummarySentence
    abstracts: int


def summarise_scope(
    ctx: Any, models: ClaimModels, tenant_id: str, query: str, *, knowledge_base: str, pmids: Sequence[str] | None = None,
    max_abstracts: int = 8, max_sentences: int = 6, mode: str = "extractive", only: set[str] | None = None,
) -> Summary:
    from apps.literature_analysis.summary import abstractive_text, extractive_text, summarise

    query = clean_claim(query, field="query")
    if mode not in SUMMARY_MODES:
        raise UserError(f"unknown mode {mode!r}; expected one of {', '.join(SUMMARY_MODES)}", field="mode")
    if not 1 <= max_abstracts <= 50:
        raise UserError("max_abstracts must be between 1 and 50", field="max_abstracts")
    if not 1 <= max_sentences <= 30:
        raise UserError("max_sentences must be between 1 and 30", field="max_sentences")
    require_knowledge_base(ctx.knowledge, tenant_id, knowledge_base)
    if pmids is not None:
        abstracts = named_abstracts(ctx, tenant_id, knowledge_base, pmids, only)
    else:
        abstracts = retrieved(ctx.knowledge, tenant_id, knowledge_base, query, max_abstracts, only=only)
    groups = summarise(query, abstracts, models.selector, max_sentences=max_sentences)
    if not groups:
        raise NotFound("no sentence of the abstracts in scope is relevant to the query", field="query")
    text = abstractive_text(ctx.model, query, groups) if mode == "abstractive" else extractive_text(groups)
    return Summary(query, mode, text, [list(g) for g in groups], len(abstracts))


@dataclass(frozen=True)
class YesNoAnswer:
    question: str
    answer: str  # yes | no | maybe
    confidence: float
    probabilities: dict[str, float]
    abstract: ScopedAbstract
    deciding: tuple[RationaleSentence, ...]
    model_version: str


def answer_question(ctx: Any, models: ClaimModels, tenant_id: str, question: str, *, knowledge_base: str, pmid: str | None = None) -> YesNoAnswer:
    """PubMedQA style: yes / no / maybe from one abstract (the PMID given, else the best retrieved), with
    the sentences the rationale selector rates most relevant to the question as the deciding ones."""
    from apps.literature_analysis.evaluate import pubmedqa_answers
    from apps.literature_analysis.data import Question

    question = clean_claim(question, field="question")
    require_knowledge_base(ctx.knowledge, tenant_id, knowledge_base)
    if pmid:
        try:
            abstract = by_pmids(ctx.knowledge, tenant_id, knowledge_base, [pmid])[0]
        except NotFound as exc:
            raise NotFound(str(exc), field="pmid") from None
    else:
        abstract = retrieved(ctx.knowledge, tenant_id, knowledge_base, question, 1)[0]
    if not abstract.spans:
        raise UserError("the abstract has no sentences", field="pmid")
    item = Question("", question, tuple(s.text for s in abstract.spans), (), "")
    [answer] = pubmedqa_answers([item], models.pubmedqa)
    row = models.pubmedqa.probabilities([(question, " ".join(item.contexts))])[0]
    classes = list(getattr(models.pubmedqa.config, "classes", ("yes", "no", "maybe")))
    names = ["yes", "no", "maybe"] if classes[0] == "SUPPORT" else classes
    probabilities = dict(zip(names, (float(p) for p in row)))
    scores = [p[1] for p in models.selector.probabilities([(question, s.text) for s in abstract.spans])]
    top = sorted(sorted(range(len(scores)), key=lambda i: -scores[i])[:2])
    deciding = tuple(RationaleSentence(i, abstract.spans[i], float(scores[i])) for i in top)
    return YesNoAnswer(question, answer, probabilities[answer], probabilities, abstract, deciding, models.version)
