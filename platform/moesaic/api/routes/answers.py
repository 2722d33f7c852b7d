"""An app's answers outside the model: pinned answers (operators curate them) and cached ones.

``GET`` lists both (viewers), ``POST`` pins an answer to a question, ``DELETE`` unpins it or drops a cached
answer (operators). A pinned answer is served, without a model call, for the same question or a
near-duplicate on a conversation's first turn, ahead of any cached answer (``moesaic.answers``). The gate's
middleware writes an audit row for each change.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from moesaic.access import access
from moesaic.answers import AnswerCache
from moesaic.api.deps import PlatformDep, PrincipalDep, require_chat_app
from moesaic.api.schemas.answers import AnswerDeleted, AnswerList, AnswerOut, PinnedAnswerCreate
from moesaic.errors import NotFound, error_responses
from moesaic.services import Platform

router = APIRouter(tags=["answers"])


def _cache(platform: Platform) -> AnswerCache:
    assert platform.answers is not None, "Platform.create builds the answer cache"
    return platform.answers


@router.get("/v1/apps/{app}/answers", openapi_extra=access(app="path:app"))
def list_answers(
    app: str, platform: PlatformDep, principal: PrincipalDep,
    source: Literal["all", "pinned_answer", "answer_cache"] = Query(default="all", description="Which answers to list."),
    limit: int = Query(default=100, ge=1, le=1000, description="Most cached answers listed (most used first)."),
) -> AnswerList:
    """The app's pinned answers (oldest first), then its live cached answers (most used first)."""
    manifest = platform.apps.get(app, field="app")
    cache = _cache(platform)
    rows = []
    if source in ("all", "pinned_answer"):
        rows += cache.pinned(principal.tenant_id, manifest.name)
    if source in ("all", "answer_cache"):
        rows += cache.cached(principal.tenant_id, manifest.name, limit=limit)
    return AnswerList.model_validate({"data": rows})


@router.post("/v1/apps/{app}/answers", status_code=201, openapi_extra=access(app="path:app", role="operator"),
             responses=error_responses(409))
def pin_answer(app: str, body: PinnedAnswerCreate, platform: PlatformDep, principal: PrincipalDep) -> AnswerOut:
    """Pin ``answer`` to ``question``: first-turn questions that match it (exactly, or as a near-duplicate) get it
    without a model call. 400: the app has no chat, or the question has no words; 409: the question already has a
    pinned answer."""
    manifest = require_chat_app(platform, principal, app, field="app")
    row = _cache(platform).pin(principal.tenant_id, manifest.name, body.question, body.answer, created_by=principal.label)
    return AnswerOut.model_validate(row)


@router.delete("/v1/apps/{app}/answers/{answer_id}", openapi_extra=access(app="path:app", role="operator"))
def delete_answer(app: str, answer_id: str, platform: PlatformDep, principal: PrincipalDep) -> AnswerDeleted:
    """Unpin a pinned answer, or drop a cached one (the next such question goes to the model). 404: no answer of
    the app with that id in the tenant."""
    manifest = platform.apps.get(app, field="app")
    cache = _cache(platform)
    try:
        cache.unpin(principal.tenant_id, manifest.name, answer_id)
    except NotFound:
        if not cache.forget(principal.tenant_id, manifest.name, answer_id):
            raise
    return AnswerDeleted(id=answer_id)
