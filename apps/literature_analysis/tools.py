"""The chat app's tools: search the literature knowledge base, fetch an abstract, check a claim, summarise.

They run the app's own offline models (no LLM call inside a tool) and answer JSON the chat model reads.
They reach the knowledge service through the app's services (``manifest.setup`` puts it there). Bad
input goes back to the model as text (``ToolError``).
"""

from __future__ import annotations

import json
from typing import Any

from moesaic.apps import ToolContext
from moesaic.errors import NotFound, ToolError, UserError
from moesaic.tools import tool

from apps.literature_analysis.models import get_models
from apps.literature_analysis.scope import by_pmids, retrieved
from apps.literature_analysis.sync import DEFAULT_KB



class _Ctx:
    """The subset of an ``AppContext`` the service functions use, built from a tool's context."""

    def __init__(self, ctx: ToolContext) -> None:
        self.knowledge = ctx.services["knowledge"]
        self.model = ctx.services.get("chat_model")


def _fail(exc: Exception) -> ToolError:
    return ToolError(str(exc))


@tool
def search_literature(query: str, ctx: ToolContext, max_results: int = 5) -> str:
    """Search the literature knowledge base for abstracts about a topic.

    Args:
        query: What to look for.
        max_results: How many abstracts (1-20).
    """
    try:
        abstracts = retrieved(ctx.services["knowledge"], ctx.tenant_id, DEFAULT_KB, query, max(1, min(20, max_results)))
    except (UserError, NotFound) as exc:
        raise _fail(exc) from None
    return json.dumps({"results": [{"pmid": a.pmid, "document_id": a.document_id, "title": a.title,
                                    "first_sentences": " ".join(s.text for s in a.spans[:2])} for a in abstracts]})


@tool
def fetch_abstract(pmid: str, ctx: ToolContext) -> str:
    """The full abstract of one paper in the literature knowledge base, sentence by sentence.

    Args:
        pmid: The paper's PubMed id.
    """
    try:
        [abstract] = by_pmids(ctx.services["knowledge"], ctx.tenant_id, DEFAULT_KB, [pmid])
    except (UserError, NotFound) as exc:
        raise _fail(exc) from None
    return json.dumps({"pmid": abstract.pmid, "title": abstract.title, "sentences": [s.text for s in abstract.spans]})


@tool
def check_claim(claim: str, ctx: ToolContext, pmids: list[str] | None = None) -> str:
    """Check a scientific claim against the literature: per abstract SUPPORT, CONTRADICT or
    NOT_ENOUGH_INFO with the deciding sentences, and an overall verdict.

    Args:
        claim: The claim, one sentence.
        pmids: Check these papers only (default: search the knowledge base).
    """
    from apps.literature_analysis.service import check_claim as run_check

    try:
        result = run_check(_Ctx(ctx), get_models(ctx.services), ctx.tenant_id, claim, knowledge_base=DEFAULT_KB, pmids=pmids)
    except (UserError, NotFound) as exc:
        raise _fail(exc) from None
    return json.dumps({
        "verdict": result.verdict, "confidence": round(result.confidence, 3),
        "abstracts": [{"pmid": a.abstract.pmid, "title": a.abstract.title, "label": a.label, "confidence": round(a.confidence, 3),
                       "rationale": [r.span.text for r in a.rationale]} for a in result.abstracts],
    })


@tool
def summarise_literature(query: str, ctx: ToolContext, pmids: list[str] | None = None, max_sentences: int = 6) -> str:
    """An extractive summary of the abstracts about a question, every sentence cited by PMID.

    Args:
        query: The question or topic.
        pmids: Summarise these papers only (default: search the knowledge base).
        max_sentences: Sentences in the summary (1-30).
    """
    from apps.literature_analysis.service import summarise_scope

    try:
        result = summarise_scope(_Ctx(ctx), get_models(ctx.services), ctx.tenant_id, query, knowledge_base=DEFAULT_KB,
                                 pmids=pmids, max_sentences=max_sentences)
    except (UserError, NotFound) as exc:
        raise _fail(exc) from None
    return json.dumps({"summary": [[{"pmid": s.abstract.pmid, "sentence": s.span.text} for s in group] for group in result.groups]})


@tool
def answer_yes_no(question: str, ctx: ToolContext, pmid: str | None = None) -> str:
    """Answer a yes/no research question with yes, no or maybe from one abstract, with the deciding sentences.

    Args:
        question: The question.
        pmid: Answer from this paper (default: the best match in the knowledge base).
    """
    from apps.literature_analysis.service import answer_question

    try:
        result = answer_question(_Ctx(ctx), get_models(ctx.services), ctx.tenant_id, question, knowledge_base=DEFAULT_KB, pmid=pmid)
    except (UserError, NotFound) as exc:
        raise _fail(exc) from None
    return json.dumps({"answer": result.answer, "confidence": round(result.confidence, 3), "pmid": result.abstract.pmid,
                       "deciding_sentences": [r.span.text for r in result.deciding]})


TOOLS: tuple[Any, ...] = (search_literature, fetch_abstract, check_claim, summarise_literature, answer_yes_no)
