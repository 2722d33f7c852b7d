"""The job ``summarise``: a summary of a large set of abstracts (many PMIDs), off the request path.

Payload: the ``POST /summaries:job`` body. The result (the job's record, at ``GET /v1/jobs/{id}``) is
the same JSON as ``POST /summaries`` answers. Nothing is written elsewhere, so a second delivery simply
computes the same result again. Bad input fails the job at once (``FailJob``) with the message a
request would get.
"""

from __future__ import annotations

from typing import Any

from moesaic.errors import UserError
from moesaic.jobs import FailJob, JobContext

from apps.literature_analysis.models import get_models
from apps.literature_analysis.saved_queries import resolve_scope

SUMMARISE = "summarise"


def checked_when_queued(kind: str, value: str, field: str) -> None:
    """The scope's check in a job: the route checked the caller against the saved query's knowledge base
    when it queued the job (``routes.summaries_job``); a worker has no caller to check."""


def summary_json(result: Any) -> dict[str, Any]:
    return {
        "query": result.query, "mode": result.mode, "text": result.text, "abstracts": result.abstracts,
        "groups": [{"sentences": [{
            "citation": s.citation, "document_id": s.abstract.document_id, "pmid": s.abstract.pmid, "title": s.abstract.title,
            "index": s.index, "start_char": s.span.start_char, "end_char": s.span.end_char, "text": s.span.text,
            "relevance": round(s.relevance, 4),
        } for s in group]} for group in result.groups],
    }


def summarise_job(job: JobContext) -> dict[str, Any]:
    from apps.literature_analysis.service import summarise_scope

    body = job.payload
    pmids = body.get("pmids")
    job.progress(0, 1)
    try:
        kb, only = resolve_scope(job.app_context.db, job.tenant_id, body.get("knowledge_base"), body.get("saved_query"),
                                 checked_when_queued)
        result = summarise_scope(
            job.app_context, get_models(job.app_context.services), job.tenant_id, str(body.get("query", "")),
            knowledge_base=str(kb), pmids=pmids, max_abstracts=int(body.get("max_abstracts", 8)),
            max_sentences=int(body.get("max_sentences", 6)), mode=str(body.get("mode", "extractive")), only=only,
        )
    except UserError as exc:
        raise FailJob(f"{exc.field}: {exc}" if getattr(exc, "field", None) else str(exc)) from None
    job.progress(1, 1)
    return summary_json(result)
