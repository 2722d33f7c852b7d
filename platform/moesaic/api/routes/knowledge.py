"""Knowledge bases and their documents: upload, status, listing with counts, deletion, search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile

from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep
from moesaic.errors import error_responses
from moesaic.api.schemas import DocumentList, DocumentOut, KnowledgeBaseList, KnowledgeBaseOut, SearchHit, SearchResults
from moesaic.errors import PayloadTooLarge, UserError
from moesaic.retrieval.upload_limits import SETTING as LIMITS_SETTING
from moesaic.retrieval.upload_limits import largest_bytes

router = APIRouter(tags=["knowledge"])
# the knowledge base's name in a path: an invalid one is a 422 naming it (the service checks the same rule)
KbName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="1-100 letters, digits, '_', '-' or '.'")]
MAX_FILENAME_CHARS = 500  # the documents table's filename column


@router.get("/v1/knowledge-bases", openapi_extra=access())
def list_knowledge_bases(platform: PlatformDep, principal: PrincipalDep) -> KnowledgeBaseList:
    """The tenant's knowledge bases this key may use, with document counts per ingestion state."""
    visible = []
    for kb in platform.knowledge.list_knowledge_bases(principal.tenant_id):
        owner = platform.knowledge_base_owner(kb["name"])
        if owner is None or principal.may_use(owner):
            visible.append(KnowledgeBaseOut(**kb, owner_app=owner))
    return KnowledgeBaseList(data=visible)


@router.post(
    "/v1/knowledge-bases/{kb}/documents",
    status_code=201,
    responses=error_responses(400, 409, 413, 415),
    openapi_extra=access(knowledge_base="path:kb"),
)
def upload_document(kb: KbName, platform: PlatformDep, principal: PrincipalDep, file: UploadFile = File(...)) -> DocumentOut:
    """Queue a file for indexing (the knowledge base is created on first upload). The same bytes under
    the same name are a no-op; new bytes under a known name replace the document once indexed.
    400: unsupported type, empty file or bad knowledge base name; 409: the same name is being uploaded
    concurrently; 413: larger than the limit of its type (``MOESAIC_UPLOAD_LIMITS_MB``; by default pdf 50 MiB,
    docx 25, html 10, text and Markdown 10, json 20, csv 50), the message names the type and the limit; 415: the
    bytes are not a readable document (random binary named ``.txt``, an image, a ZIP archive...), whatever the
    name says (a file is read as what it is)."""
    limits = platform.knowledge.upload_limits
    largest = largest_bytes(limits)
    data = file.file.read(largest + 1)
    if len(data) > largest:
        each = ", ".join(f"{kind} {mib:g} MiB" for kind, mib in limits.items())
        raise PayloadTooLarge(f"{file.filename or 'the file'!r} is larger than {largest / 2**20:g} MiB, the largest "
                              f"upload any type may be ({LIMITS_SETTING}: {each})", field="file")
    filename = file.filename or "upload"
    if len(filename) > MAX_FILENAME_CHARS or "\x00" in filename:
        raise UserError(f"the file name must be at most {MAX_FILENAME_CHARS} characters, without NUL characters "
                        f"(got {len(filename)} characters)", field="file")
    info = platform.knowledge.add_document(principal.tenant_id, kb, filename, data)
    return DocumentOut(**info.to_dict())


@router.get("/v1/knowledge-bases/{kb}/documents", openapi_extra=access(knowledge_base="path:kb"))
def list_documents(kb: KbName, platform: PlatformDep, principal: PrincipalDep) -> DocumentList:
    documents, counts = platform.knowledge.list_documents(principal.tenant_id, kb)
    return DocumentList.model_validate({"data": [d.to_dict() for d in documents], "counts": counts})


@router.get("/v1/knowledge-bases/{kb}/documents/{document_id}", openapi_extra=access(knowledge_base="path:kb"))
def get_document(kb: KbName, document_id: str, platform: PlatformDep, principal: PrincipalDep) -> DocumentOut:
    """One document and its ingestion status."""
    return DocumentOut(**platform.knowledge.get_document(principal.tenant_id, kb, document_id).to_dict())


@router.delete("/v1/knowledge-bases/{kb}/documents/{document_id}", status_code=204, openapi_extra=access(knowledge_base="path:kb"))
def delete_document(kb: KbName, document_id: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    """Erase the document everywhere: its rows, stored upload, chunks, vectors and ingest jobs (one audit row)."""
    from moesaic.lifecycle import Lifecycle

    Lifecycle(platform).erase_document(principal.tenant_id, kb, document_id, principal)
    return Response(status_code=204)


@router.get("/v1/knowledge-bases/{kb}/search", openapi_extra=access(knowledge_base="path:kb"))
def search(
    kb: KbName,
    platform: PlatformDep,
    principal: PrincipalDep,
    q: str = Query(min_length=1, max_length=2000),
    top_k: int = Query(default=5, ge=1, le=100),
    mode: str = Query(default="hybrid", pattern="^(hybrid|dense|keyword)$"),
) -> SearchResults:
    """Search the knowledge base: ``hybrid`` (dense and keyword, fused), ``dense`` or ``keyword``."""
    chunks = platform.knowledge.search(principal.tenant_id, kb, q, top_k=top_k, mode=mode)
    return SearchResults(
        data=[
            SearchHit(chunk_id=c.chunk_id, document_id=c.document_id, title=c.title, text=c.text,
                      start_char=c.start_char, end_char=c.end_char, score=c.score)
            for c in chunks
        ]
    )
