"""Search over HTTP, under ``/v1/apps/literature_analysis`` (the gate owns access):

- ``POST /search`` (viewer): the papers of a knowledge base that best match a query (hybrid search,
  grouped by paper) with their metadata (authors, journal, year, PMID, DOI, MeSH terms);
- ``POST /pubmed/search`` (viewer): PubMed itself, live, through ``connectors.pubmed`` (few tries, a
  short timeout: a user waits); nothing is stored. 400 for an empty or bad term, 502 when PubMed fails;
- ``POST /pubmed/articles`` (operator): fetch PMIDs from PubMed and add them to a knowledge base, the
  path the chat tool ``add_pubmed_articles`` and the sync take (``KnowledgeBaseSink``); indexing is queued.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from connectors.article_sinks import KnowledgeBaseSink
from connectors.articles import Article
from moesaic.access import access
from moesaic.apps import AppContextDep, TenantIdDep, error_responses
from moesaic.errors import UserError

from apps.literature_analysis.pubmed_tools import interactive_client
from apps.literature_analysis.scope import ScopedAbstract, require_knowledge_base, retrieved
from apps.literature_analysis.search_schemas import (
    LocalSearchIn,
    LocalSearchOut,
    PaperOut,
    PubMedAddIn,
    PubMedAddOut,
    PubMedSearchIn,
    PubMedSearchOut,
)

router = APIRouter(tags=["literature_analysis"])
SNIPPET_SENTENCES = 2


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def local_paper(item: ScopedAbstract) -> PaperOut:
    meta = item.metadata
    year = meta.get("year")
    return PaperOut(
        pmid=item.pmid, document_id=item.document_id, title=item.title, authors=_strings(meta.get("authors")),
        journal=meta.get("journal"), year=int(year) if isinstance(year, int) else None, doi=meta.get("doi"),
        mesh_terms=_strings(meta.get("mesh_terms")), publication_types=_strings(meta.get("publication_types")),
        retracted=bool(meta.get("retracted")), score=round(item.retrieval_score, 4),
        snippet=" ".join(s.text for s in item.spans[:SNIPPET_SENTENCES]),
    )


def pubmed_paper(article: Article) -> PaperOut:
    sentences = article.sentences or tuple(s.text for s in article.abstract)
    return PaperOut(
        pmid=article.pmid, title=article.display_title, authors=list(article.authors), journal=article.journal,
        year=article.year, doi=article.doi, mesh_terms=list(article.mesh_terms), publication_types=list(article.publication_types),
        retracted=article.is_retracted, snippet=" ".join(sentences)[:400],
    )


def _search_local(ctx: AppContextDep, tenant_id: str, body: LocalSearchIn) -> LocalSearchOut:
    if not body.query.strip():
        raise UserError("query is empty", field="query")
    require_knowledge_base(ctx.knowledge, tenant_id, body.knowledge_base)
    found = retrieved(ctx.knowledge, tenant_id, body.knowledge_base, body.query, body.max_results, field="query")
    return LocalSearchOut(query=body.query, knowledge_base=body.knowledge_base, results=[local_paper(a) for a in found])


@router.post("/search", openapi_extra=access(role="viewer", knowledge_base="body:knowledge_base"),
             responses=error_responses(404))
async def search_local(body: LocalSearchIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> LocalSearchOut:
    """The papers of a knowledge base that best match the query, with their metadata (404: no paper matches)."""
    return await run_in_threadpool(_search_local, ctx, tenant_id, body)


def _search_pubmed(ctx: AppContextDep, body: PubMedSearchIn) -> PubMedSearchOut:
    if not body.query.strip():
        raise UserError("query is empty", field="query")
    with interactive_client(ctx.services) as client:
        found = client.esearch(body.query, retmax=body.max_results, usehistory=False)
        articles = client.fetch(found.pmids[: body.max_results]) if found.pmids else []
    by_pmid = {a.pmid: a for a in articles}
    results = [pubmed_paper(by_pmid[p]) if p in by_pmid else PaperOut(pmid=p, title=f"PMID {p}") for p in found.pmids[: body.max_results]]
    return PubMedSearchOut(query=body.query, count=found.count, results=results)


@router.post("/pubmed/search", openapi_extra=access(role="viewer"), responses=error_responses(502))
async def search_pubmed(body: PubMedSearchIn, ctx: AppContextDep) -> PubMedSearchOut:
    """Search PubMed itself (live); nothing is stored. 502 when PubMed cannot be reached or answers badly."""
    return await run_in_threadpool(_search_pubmed, ctx, body)


def _add(ctx: AppContextDep, tenant_id: str, body: PubMedAddIn) -> PubMedAddOut:
    ids = list(dict.fromkeys(p.strip() for p in body.pmids if p.strip()))
    for position, pmid in enumerate(body.pmids):
        if not pmid.strip().isdigit():
            raise UserError(f"not a PMID: {pmid!r}", field=f"pmids[{position}]")
    with interactive_client(ctx.services) as client:
        articles = client.fetch(ids)
    KnowledgeBaseSink(ctx.knowledge, tenant_id, body.knowledge_base)(articles)
    added = sorted(a.pmid or a.source_id for a in articles)
    return PubMedAddOut(knowledge_base=body.knowledge_base, added=added, not_found=[p for p in ids if p not in added])


@router.post("/pubmed/articles", openapi_extra=access(knowledge_base="body:knowledge_base"), responses=error_responses(502))
async def add_from_pubmed(body: PubMedAddIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> PubMedAddOut:
    """Fetch papers from PubMed by PMID and add them to a knowledge base (indexing is queued as jobs)."""
    return await run_in_threadpool(_add, ctx, tenant_id, body)
