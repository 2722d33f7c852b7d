"""Knowledge bases and their documents: upload, status, listing with counts, deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Query, Response, UploadFile

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import UserError

router = APIRouter(tags=["knowledge"])
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@router.get("/v1/knowledge-bases", openapi_extra=access())
def list_knowledge_bases(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    visible = []
    for kb in platform.knowledge.list_knowledge_bases(principal.tenant_id):
        owner = platform.knowledge_base_owner(kb["name"])
        if owner is None or principal.may_use(owner):
            visible.append(kb | {"owner_app": owner})
    return {"data": visible}


@router.post("/v1/knowledge-bases/{kb}/documents", status_code=201, openapi_extra=access(knowledge_base="path:kb"))
def upload_document(kb: str, platform: PlatformDep, principal: PrincipalDep, file: UploadFile = File(...)) -> dict[str, Any]:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UserError(f"file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB", field="file")
    info = platform.knowledge.add_document(principal.tenant_id, kb, file.filename or "upload", data)
    return info.to_dict()


@router.get("/v1/knowledge-bases/{kb}/documents", openapi_extra=access(knowledge_base="path:kb"))
def list_documents(kb: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    documents, counts = platform.knowledge.list_documents(principal.tenant_id, kb)
    return {"data": [d.to_dict() for d in documents], "counts": counts}


@router.get("/v1/knowledge-bases/{kb}/documents/{document_id}", openapi_extra=access(knowledge_base="path:kb"))
def get_document(kb: str, document_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return platform.knowledge.get_document(principal.tenant_id, kb, document_id).to_dict()


@router.delete("/v1/knowledge-bases/{kb}/documents/{document_id}", status_code=204, openapi_extra=access(knowledge_base="path:kb"))
def delete_document(kb: str, document_id: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    platform.knowledge.delete_document(principal.tenant_id, kb, document_id)
    return Response(status_code=204)


@router.get("/v1/knowledge-bases/{kb}/search", openapi_extra=access(knowledge_base="path:kb"))
def search(
    kb: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    q: str = Query(min_length=1, max_length=2000),
    top_k: int = Query(default=5, ge=1, le=100),
    mode: str = Query(default="hybrid", pattern="^(hybrid|dense|keyword)$"),
) -> dict[str, Any]:
    chunks = platform.knowledge.search(principal.tenant_id, kb, q, top_k=top_k, mode=mode)
    return {
        "data": [
            {"chunk_id": c.chunk_id, "document_id": c.document_id, "title": c.title, "text": c.text,
             "start_char": c.start_char, "end_char": c.end_char, "score": c.score}
            for c in chunks
        ]
    }
