"""The chat app's PubMed tools: search PubMed live (read-only) and add found PMIDs to the knowledge base (a write).

Both go through ``connectors.pubmed.PubMedClient`` with the configured settings (``MOESAIC_PUBMED_*``,
read in ``manifest.setup``); inside a conversation a request is tried at most ``INTERACTIVE_ATTEMPTS``
times with a short timeout, so an unreachable server answers the model quickly (``ToolError``).
``add_pubmed_articles`` is declared ``writes=True``: the agent loop holds it until the user confirms.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.article_sinks import KnowledgeBaseSink
from connectors.pubmed import PubMedClient, PubMedSettings
from moesaic.apps import ToolContext
from moesaic.errors import MoesaicError, ToolError
from moesaic.tools import tool

from apps.literature_analysis.sync import pubmed_settings

INTERACTIVE_ATTEMPTS = 2
INTERACTIVE_TIMEOUT_S = 10.0
MAX_RESULTS = 20
MAX_ADDED = 50


def interactive_client(services: dict[str, Any]) -> PubMedClient:
    """A client for one tool call: few tries, a short timeout (a user is waiting)."""
    settings: PubMedSettings = pubmed_settings(services)
    quick = settings.model_copy(update={"max_attempts": min(settings.max_attempts, INTERACTIVE_ATTEMPTS),
                                        "timeout_s": min(settings.timeout_s, INTERACTIVE_TIMEOUT_S)})
    return PubMedClient(quick)


@tool
def search_pubmed(query: str, ctx: ToolContext, max_results: int = 10) -> str:
    """Search PubMed itself (live) for papers; returns titles, PMIDs and years, most recent first.
    Nothing is stored: add the papers you need with add_pubmed_articles.

    Args:
        query: A PubMed search term (e.g. "vitamin D AND fracture[tiab]").
        max_results: How many papers (1-20).
    """
    limit = max(1, min(MAX_RESULTS, max_results))
    try:
        with interactive_client(ctx.services) as client:
            found = client.esearch(query, retmax=limit, usehistory=False)
            articles = client.fetch(found.pmids[:limit]) if found.pmids else []
    except MoesaicError as exc:
        raise ToolError(f"PubMed search failed: {exc}") from None
    by_pmid = {a.pmid: a for a in articles}
    results = [{"pmid": pmid, "title": by_pmid[pmid].display_title if pmid in by_pmid else None,
                "year": by_pmid[pmid].year if pmid in by_pmid else None} for pmid in found.pmids[:limit]]
    return json.dumps({"count": found.count, "results": results})


@tool(writes=True)
def add_pubmed_articles(pmids: list[str], ctx: ToolContext) -> str:
    """Fetch papers from PubMed by PMID and add them to the literature knowledge base (so that search,
    fetch_abstract and check_claim see them). Changes the knowledge base: the user must confirm.

    Args:
        pmids: The PubMed ids to add (at most 50).
    """
    from apps.literature_analysis.tools import DEFAULT_KB

    ids = [str(p).strip() for p in pmids if str(p).strip()]
    if not ids or len(ids) > MAX_ADDED:
        raise ToolError(f"give between 1 and {MAX_ADDED} PMIDs")
    try:
        with interactive_client(ctx.services) as client:
            articles = client.fetch(ids)
        sink = KnowledgeBaseSink(ctx.services["knowledge"], ctx.tenant_id, DEFAULT_KB)
        sink(articles)
    except MoesaicError as exc:
        raise ToolError(f"adding the papers failed: {exc}") from None
    added = sorted(a.pmid or a.source_id for a in articles)
    return json.dumps({"knowledge_base": DEFAULT_KB, "added": added, "not_found": [p for p in ids if p not in added]})
