"""The app's HTTP API, mounted at ``/v1/apps/literature_analysis`` (the gate owns authorisation).

- ``POST /claims:check``: a claim and a scope (a knowledge base, optionally PMIDs in it) -> per abstract
  SUPPORT / CONTRADICT / NOT_ENOUGH_INFO with rationale sentences (exact offsets) and a confidence,
  plus an overall verdict. Read-only, so a viewer key may call it.
- ``POST /contradictions``: the same check, grouped: supporting and contradicting papers side by side.
- ``POST /summaries``: an extractive, query-focused summary of the scope, every sentence cited.
- ``POST /summaries:job``: the same as a job (large sets); the job's result is the summary.
- ``POST /questions:answer``: PubMedQA style yes / no / maybe from an abstract, deciding sentences cited.
- ``/queries...``: saved PubMed queries and their sync jobs (``query_routes``).
- ``POST /search``, ``POST /pubmed/search``, ``POST /pubmed/articles``: papers with metadata, locally and on
  PubMed, and adding PubMed papers to a knowledge base (``search_routes``).

A scope is a knowledge base, PMIDs in it, or a saved query (``saved_query``: its knowledge base, only the
abstracts it brought in).

The knowledge base is a declared resource (``body:knowledge_base``): one that belongs to an app the key
may not use is refused by the gate (403); an unknown one is a 404; bad input a 4xx naming the field.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from moesaic.access import access
from moesaic.apps import AppContextDep, ResourceCheck, ResourceCheckDep, TenantIdDep
from moesaic.errors import UpstreamError, UserError

from apps.literature_analysis.jobs import SUMMARISE
from apps.literature_analysis.models import get_models
from apps.literature_analysis.query_routes import router as query_router
from apps.literature_analysis.saved_queries import resolve_scope
from apps.literature_analysis.search_routes import router as search_router
from apps.literature_analysis.schemas import (
    AbstractOut,
    CitedSentenceOut,
    ClaimCheckIn,
    ClaimCheckOut,
    ContradictionsIn,
    ContradictionsOut,
    QuestionIn,
    QuestionOut,
    SentenceOut,
    SummaryGroupOut,
    SummaryIn,
    SummaryOut,
)
from apps.literature_analysis.service import CheckedAbstract, ClaimCheck, Summary, YesNoAnswer, answer_question, check_claim, summarise_scope

router = APIRouter(tags=["literature_analysis"])
router.include_router(query_router)
router.include_router(search_router)
READ_KB = access(role="viewer", knowledge_base="body:knowledge_base")


def abstract_out(item: CheckedAbstract) -> AbstractOut:
    return AbstractOut(
        document_id=item.abstract.document_id,
        pmid=item.abstract.pmid,
        title=item.abstract.title,
        label=item.label,
        confidence=round(item.confidence, 4),
        retrieval_score=round(item.abstract.retrieval_score, 4),
        rationale=[SentenceOut(index=r.index, start_char=r.span.start_char, end_char=r.span.end_char, text=r.span.text, score=round(r.score, 4)) for r in item.rationale],
        label_probabilities={k: round(v, 4) for k, v in item.label_probabilities.items()},
        text=item.abstract.text,
    )


def _run_check(ctx: AppContextDep, tenant_id: str, body: ClaimCheckIn | ContradictionsIn, check: ResourceCheck) -> ClaimCheck:
    kb, only = resolve_scope(ctx.db, tenant_id, body.knowledge_base, body.saved_query, check)
    return check_claim(
        ctx, get_models(ctx.services), tenant_id, body.claim, knowledge_base=kb, pmids=body.pmids,
        max_abstracts=body.max_abstracts, mode=body.mode, only=only,
    )


@router.post("/claims:check", openapi_extra=READ_KB)
async def check(body: ClaimCheckIn, ctx: AppContextDep, tenant_id: TenantIdDep, may_reach: ResourceCheckDep) -> ClaimCheckOut:
    """Check a claim against the abstracts of a knowledge base (or the PMIDs given)."""
    result = await run_in_threadpool(_run_check, ctx, tenant_id, body, may_reach)
    return ClaimCheckOut(
        claim=result.claim, verdict=result.verdict, confidence=round(result.confidence, 4), mode=result.mode,
        model_version=result.model_version, abstracts=[abstract_out(a) for a in result.abstracts],
    )


@router.post("/contradictions", openapi_extra=READ_KB)
async def contradictions(body: ContradictionsIn, ctx: AppContextDep, tenant_id: TenantIdDep,
                         may_reach: ResourceCheckDep) -> ContradictionsOut:
    """Papers that support and papers that contradict a claim or topic, side by side with their rationale."""
    result = await run_in_threadpool(_run_check, ctx, tenant_id, body, may_reach)
    by_label = {label: [abstract_out(a) for a in result.abstracts if a.label == label] for label in ("SUPPORT", "CONTRADICT", "NOT_ENOUGH_INFO")}
    return ContradictionsOut(
        claim=result.claim, verdict=result.verdict, model_version=result.model_version,
        supporting=by_label["SUPPORT"], contradicting=by_label["CONTRADICT"], undecided=by_label["NOT_ENOUGH_INFO"],
    )


def _run_summary(ctx: AppContextDep, tenant_id: str, body: SummaryIn, check: ResourceCheck) -> Summary:
    kb, only = resolve_scope(ctx.db, tenant_id, body.knowledge_base, body.saved_query, check)
    return summarise_scope(
        ctx, get_models(ctx.services), tenant_id, body.query, knowledge_base=kb, pmids=body.pmids,
        max_abstracts=body.max_abstracts, max_sentences=body.max_sentences, mode=body.mode, only=only,
    )


@router.post("/summaries", openapi_extra=READ_KB)
async def summaries(body: SummaryIn, ctx: AppContextDep, tenant_id: TenantIdDep, may_reach: ResourceCheckDep) -> SummaryOut:
    """A query-focused summary of the scope's abstracts, grouped by finding, every sentence cited."""
    result = await run_in_threadpool(_run_summary, ctx, tenant_id, body, may_reach)
    groups = [
        SummaryGroupOut(sentences=[
            CitedSentenceOut(
                citation=s.citation, document_id=s.abstract.document_id, pmid=s.abstract.pmid, title=s.abstract.title, index=s.index,
                start_char=s.span.start_char, end_char=s.span.end_char, text=s.span.text, relevance=round(s.relevance, 4),
            )
            for s in group
        ])
        for group in result.groups
    ]
    return SummaryOut(query=result.query, mode=result.mode, text=result.text, groups=groups, abstracts=result.abstracts)


def _run_question(ctx: AppContextDep, tenant_id: str, body: QuestionIn) -> YesNoAnswer:
    return answer_question(ctx, get_models(ctx.services), tenant_id, body.question, knowledge_base=body.knowledge_base, pmid=body.pmid)


@router.post("/questions:answer", openapi_extra=READ_KB)
async def answer(body: QuestionIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> QuestionOut:
    """PubMedQA style: yes / no / maybe from an abstract, with the deciding sentences cited (offline classifier)."""
    result = await run_in_threadpool(_run_question, ctx, tenant_id, body)
    return QuestionOut(
        question=result.question, answer=result.answer, confidence=round(result.confidence, 4),
        probabilities={k: round(v, 4) for k, v in result.probabilities.items()}, document_id=result.abstract.document_id,
        pmid=result.abstract.pmid, title=result.abstract.title, model_version=result.model_version,
        deciding_sentences=[SentenceOut(index=r.index, start_char=r.span.start_char, end_char=r.span.end_char, text=r.span.text,
                                        score=round(r.score, 4)) for r in result.deciding],
    )


class SummaryJobOut(BaseModel):
    job_id: str
    state: str


@router.post("/summaries:job", status_code=202, openapi_extra=access(knowledge_base="body:knowledge_base"))
def summaries_job(body: SummaryIn, ctx: AppContextDep, tenant_id: TenantIdDep, may_reach: ResourceCheckDep) -> SummaryJobOut:
    """The same summary as a job, for large sets (follow it at ``GET /v1/jobs/{job_id}``; the result is the summary)."""
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    if not body.query.strip():
        raise UserError("query is empty", field="query")
    kb, _ = resolve_scope(ctx.db, tenant_id, body.knowledge_base, body.saved_query, may_reach)
    ctx.knowledge.require_knowledge_base(tenant_id, kb)
    info = ctx.jobs.enqueue(tenant_id, "literature_analysis", SUMMARISE, body.model_dump())
    return SummaryJobOut(job_id=info.id, state=info.state)
