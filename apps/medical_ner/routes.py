"""The app's HTTP API, mounted by the platform at ``/v1/apps/medical_ner`` (the gate owns authorisation).

``POST /extract`` takes one text or a list and returns the entities of each. It changes nothing, so a
``viewer`` key may call it. Bad input is a 4xx that names the field (``text``, ``texts[i]``, ``mode``,
``labels``). Large inputs (files of notes) are for a job, not this route.
"""

from __future__ import annotations

from fastapi import APIRouter

from moesaic.access import access
from moesaic.apps import AppContextDep
from moesaic.errors import UserError

from apps.medical_ner.schemas import EntityOut, ExtractIn, ExtractOut, ResultOut
from apps.medical_ner.service import get_extractor

router = APIRouter(tags=["medical_ner"])


@router.post("/extract", openapi_extra=access(role="viewer"))
def extract(body: ExtractIn, ctx: AppContextDep) -> ExtractOut:
    """Problems, treatments (and, in llm/hybrid mode, tests) with offsets, assertion and score."""
    if (body.text is None) == (body.texts is None):
        raise UserError("give exactly one of text (one string) or texts (a list)", field="text")
    texts = [body.text] if body.text is not None else list(body.texts or [])
    if not texts:
        raise UserError("texts is empty", field="texts")
    extractor = get_extractor(ctx.services, ctx.model)
    extractions = extractor.extract_many(texts, mode=body.mode, labels=body.labels) if body.texts is not None else [
        extractor.extract(texts[0], mode=body.mode, labels=body.labels)
    ]
    return ExtractOut(
        model_version=extractor.model_version,
        mode=body.mode,
        results=[ResultOut(entities=[EntityOut(**e.as_dict()) for e in x.entities], num_llm_dropped=x.num_llm_dropped, notes=x.notes) for x in extractions],
    )
