"""The app's HTTP API, mounted by the platform at ``/v1/apps/medical_ner`` (the gate owns authorisation).

``POST /extract`` takes one text or a list and returns the entities of each. It changes nothing, so a
``viewer`` key may call it. ``POST /jobs`` takes a file of notes (txt, CSV or JSONL) and queues the job
``extract_file`` (progress at ``GET /v1/jobs/{id}``); ``GET /jobs/{job_id}/results?format=jsonl|brat``
downloads its results. Bad input is a 4xx that names the field (``text``, ``texts[i]``, ``mode``,
``labels``, ``file``, ``format``). ``GET /model`` describes the shipped model (its card, for the console).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from moesaic.access import access
from moesaic.apps import AppContextDep, TenantIdDep, error_responses
from moesaic.errors import Conflict, NotFound, UpstreamError, UserError

from apps.medical_ner.card import model_card
from apps.medical_ner.entities import check_labels, check_mode
from apps.medical_ner.exports import brat_zip, read_results
from apps.medical_ner.jobs import EXTRACT_FILE, results_path, save_upload
from apps.medical_ner.notes_file import MAX_FILE_BYTES, read_notes

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


@router.get("/model", openapi_extra=access(role="viewer"))
def model(ctx: AppContextDep) -> dict[str, Any]:
    """The offline model's card: version, base, method, training corpora, devel scores, labels per mode
    (the model never finds ``test``), whether a chat model is configured for llm/hybrid, and the card text."""
    from apps.medical_ner.tagger import DEFAULT_ARTEFACT

    chat_model = ctx.model
    llm_available = chat_model is not None and getattr(chat_model, "name", "") != "extractive"
    return model_card(Path(ctx.services.get("artefact") or DEFAULT_ARTEFACT), llm_available)


@router.post("/jobs", status_code=202, openapi_extra=access())
async def create_job(
    ctx: AppContextDep,
    tenant_id: TenantIdDep,
    file: Annotated[UploadFile, File(description="Notes: .txt (one per line), .csv or .jsonl with id and text.")],
    mode: Annotated[str, Form()] = "model",
    labels: Annotated[str | None, Form(description="Comma-separated labels to keep.")] = None,
) -> dict[str, Any]:
    """Queue extraction over a file of notes; answers the job id (poll ``GET /v1/jobs/{job_id}``)."""
    check_mode(mode)
    chosen = sorted(check_labels([x.strip() for x in labels.split(",") if x.strip()] if labels is not None else None))
    data = await file.read(MAX_FILE_BYTES + 1)
    notes = read_notes(file.filename or "", data)
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    upload_id = secrets.token_hex(16)
    save_upload(ctx.settings.home, tenant_id, upload_id, notes)
    info = ctx.jobs.enqueue(tenant_id, "medical_ner", EXTRACT_FILE, {"upload": upload_id, "mode": mode, "labels": chosen})
    return {"job_id": info.id, "state": info.state, "num_notes": len(notes)}


@router.get("/jobs/{job_id}/results", openapi_extra=access(job="path:job_id"), response_class=Response,
            responses={200: {"content": {"application/jsonl": {}, "application/zip": {}},
                             "description": "JSONL (one note per line) or a zip of BRAT .txt/.ann files"},
                       **error_responses(400, 409)})
def job_results(job_id: str, ctx: AppContextDep, tenant_id: TenantIdDep, format: Annotated[str, Query()] = "jsonl") -> Response:
    """The results of a finished job: ``jsonl`` (one note per line) or ``brat`` (a zip of .txt/.ann)."""
    if format not in ("jsonl", "brat"):
        raise UserError(f"unknown format {format!r}; expected jsonl or brat", field="format")
    info = ctx.jobs.get(tenant_id, job_id)
    if info.app != "medical_ner" or info.kind != EXTRACT_FILE:
        raise NotFound(f"job {job_id!r} is not an extraction job of this app", field="job_id")
    if info.state != "succeeded":
        raise Conflict(f"job {job_id} is {info.state}; results are ready when it has succeeded", field="job_id")
    path = results_path(ctx.settings.home, tenant_id, job_id)
    if format == "jsonl":
        return Response(path.read_bytes(), media_type="application/jsonl",
                        headers={"Content-Disposition": f'attachment; filename="{job_id}.jsonl"'})
    return Response(brat_zip(read_results(path)), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{job_id}-brat.zip"'})
