"""An in-memory fake of the Moesaic REST API contract, served by a real uvicorn in a thread.

It exists so the console's tests exercise real HTTP, SSE and multipart, without the platform. It keeps
the contract's shapes exactly and nothing of the platform's behaviour: answers are scripted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

API_KEY = "test-key-123"
ANSWER = "Items can be returned within 30 days of delivery [1]."
CITATION = {"index": 1, "document_id": "doc-policy", "chunk_id": "doc-policy:0", "start_char": 120,
            "end_char": 180, "title": "Retail policy", "quote": "returns are accepted within 30 days"}
ORDER = {"order_id": "#W2378156", "user_id": "yusuf_rossi_9620", "status": "delivered",
         "items": [{"name": "Keyboard", "price": 233.08}], "address": {"city": "Philadelphia", "zip": "19122"}}
METRICS = """# HELP moesaic_chat_requests_total Chat completions per app
# TYPE moesaic_chat_requests_total counter
moesaic_chat_requests_total{app="customer_service",outcome="ok"} 6.0
moesaic_chat_requests_total{app="customer_service",outcome="error"} 1.0
moesaic_chat_requests_created{app="customer_service",outcome="ok"} 1.7e9
moesaic_tool_calls_total{app="customer_service",tool="get_order_details",outcome="ok"} 3.0
moesaic_chat_latency_seconds_bucket{app="customer_service",le="1.0"} 7.0
moesaic_chat_latency_seconds_sum{app="customer_service"} 2.1
moesaic_chat_latency_seconds_count{app="customer_service"} 7.0
moesaic_ingestion_queue_depth 2.0
python_gc_objects_collected_total{generation="0"} 10.0
"""
# literature_analysis's GET /queries, in its shape (apps.literature_analysis.schemas.SavedQueriesOut)
SAVED_QUERIES = {"queries": [{
    "name": "vitamin-d", "term": "vitamin d AND fracture", "knowledge_base": "literature", "interval_hours": 24,
    "datetype": "edat", "synced_through": "2026-11-30", "last_status": "succeeded", "last_error": None,
    "last_run_at": "2026-11-30T06:00:00Z", "last_job_id": "job1", "num_found": 12, "num_written": 12, "num_runs": 3,
    "due": False, "created_at": "2026-11-28T09:00:00Z"}, {
    "name": "statins", "term": "statin AND myopathy", "knowledge_base": "literature", "interval_hours": 24,
    "datetype": "edat", "synced_through": None, "last_status": "running", "last_error": None,
    "last_run_at": None, "last_job_id": "job-sync-2", "num_found": 0, "num_written": 0, "num_runs": 0,
    "due": False, "created_at": "2026-11-29T09:00:00Z"}]}
# literature_analysis's search, claim and summary routes, in their shapes (apps.literature_analysis.schemas,
# search_schemas); text[start_char:end_char] of each rationale is the sentence, as the real API answers
PAPER = {"pmid": "32000001", "document_id": "doc-vitd", "title": "Vitamin D and hip fractures in older adults",
         "authors": ["Ada Lovelace", "Alan Turing"], "journal": "Journal of Tests", "year": 2024, "doi": "10.1000/vitd",
         "mesh_terms": ["Vitamin D", "Hip Fractures"], "publication_types": ["Randomized Controlled Trial"],
         "retracted": False, "score": 0.91, "snippet": "Hip fractures are a major cause of disability in older adults."}
LIT_TEXT = "# Vitamin D and hip fractures\n\nHip fractures are common. Vitamin D reduced hip fractures by 30%."
LIT_RATIONALE = {"index": 1, "start_char": 57, "end_char": 96, "text": "Vitamin D reduced hip fractures by 30%.", "score": 0.9}
LIT_ABSTRACT = {"document_id": "doc-vitd", "pmid": "32000001", "title": "Vitamin D and hip fractures", "label": "SUPPORT",
                "confidence": 0.88, "retrieval_score": 0.9, "rationale": [LIT_RATIONALE],
                "label_probabilities": {"SUPPORT": 0.88, "CONTRADICT": 0.02, "NOT_ENOUGH_INFO": 0.1}, "text": LIT_TEXT}
LIT_SUMMARY = {"query": "vitamin d", "mode": "extractive", "text": "Vitamin D reduced hip fractures by 30%. [1]", "abstracts": 1,
               "groups": [{"sentences": [{"citation": 1, "document_id": "doc-vitd", "pmid": "32000001", "title": "Vitamin D and hip fractures",
                                          "index": 1, "start_char": 57, "end_char": 96, "text": LIT_RATIONALE["text"], "relevance": 0.8}]}]}
# medical_ner's GET /model, in its shape (its page is an installed app page, rendered here like every page)
NER_MODEL = {"model_version": "minilm-l6-lora-r32-fake", "base_model": "MiniLM-L6-H384", "method": "lora",
             "lora_rank": 32, "train_corpora": ["NCBI-disease", "BC5CDR"],
             "devel": {"NCBI-disease": {"precision": 0.8, "recall": 0.9, "f1": 0.85, "num_gold": 787, "num_pred": 809}},
             "training": {}, "size_bytes": 1, "model_labels": ["problem", "treatment"],
             "llm_labels": ["problem", "treatment", "test"], "llm_available": False,
             "card_markdown": "# Fake model card\n\n## Limits\n- none known"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ApiFailure(Exception):
    def __init__(self, status: int, message: str, code: str = "error") -> None:
        self.status, self.message, self.code = status, message, code


@dataclass
class FakeState:
    apps: list[dict[str, Any]] = field(default_factory=lambda: [
        {"name": "customer_service", "title": "Customer service", "description": "Retail support",
         "knowledge_base": "retail_policy", "tools": ["get_order_details", "find_user_id_by_email",
                                                      "cancel_pending_order"],
         "write_tools": ["cancel_pending_order"]},
        {"name": "kb_assistant", "title": "Knowledge assistant", "description": "Answers over documents",
         "knowledge_base": "default", "tools": [], "write_tools": []},
    ])
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    documents: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    inbox_enabled: bool = True
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation id -> the desk's customer view
    tool_runs: list[dict[str, Any]] = field(default_factory=list)  # every desk tool run the console sent
    broken_chat: bool = False
    broken_stream: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    chat_bodies: list[dict[str, Any]] = field(default_factory=list)

    def add_conversation(self, app: str, title: str | None = None, state: str = "active") -> dict[str, Any]:
        conv = {"id": uuid.uuid4().hex, "app": app, "title": title, "state": state,
                "created_at": _now(), "updated_at": _now()}
        self.conversations[conv["id"]] = conv
        self.messages[conv["id"]] = []
        return conv

    def add_message(self, conversation_id: str, role: str, content: str | None, **extra: Any) -> None:
        message = {"id": uuid.uuid4().hex, "role": role, "content": content, "tool_calls": None,
                   "tool_call_id": None, "name": None, "citations": None, "author": "bot", "created_at": _now()}
        message.update(extra)
        self.messages[conversation_id].append(message)

    def add_tool_call(self, conversation_id: str, name: str, arguments: dict[str, Any], output: str) -> None:
        """An assistant turn calling ``name`` and the tool message with its output, as the API stores them."""
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        self.add_message(conversation_id, "assistant", None,
                         tool_calls=[{"id": call_id, "name": name, "arguments": json.dumps(arguments)}])
        self.add_message(conversation_id, "tool", output, tool_call_id=call_id, name=name)

    def add_document(self, kb: str, filename: str, status: str = "queued", error: str | None = None) -> str:
        doc = {"id": uuid.uuid4().hex, "filename": filename, "status": status, "error": error,
               "num_chunks": 3 if status == "indexed" else 0, "attempts": 1, "created_at": _now(),
               "updated_at": _now()}
        self.documents.setdefault(kb, {})[doc["id"]] = doc
        return doc["id"]


def create_fake_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(ApiFailure)
    async def _failure(_: Request, exc: ApiFailure) -> JSONResponse:
        body = {"error": {"message": exc.message, "type": "invalid_request_error", "param": None, "code": exc.code}}
        return JSONResponse(body, status_code=exc.status)

    @app.middleware("http")
    async def _record(request: Request, call_next: Any) -> Response:
        state.requests.append((request.method, request.url.path))
        return await call_next(request)

    def auth(authorization: str | None = Header(default=None)) -> None:
        if authorization != f"Bearer {API_KEY}":
            raise ApiFailure(401, "Invalid API key", "invalid_api_key")

    def conversation(conversation_id: str) -> dict[str, Any]:
        if conversation_id not in state.conversations:
            raise ApiFailure(404, f"no conversation {conversation_id}", "not_found")
        return state.conversations[conversation_id]

    def inbox_guard() -> None:
        if not state.inbox_enabled:
            raise ApiFailure(404, "Not Found", "not_found")

    v1 = [Depends(auth)]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(METRICS)

    @app.get("/v1/apps", dependencies=v1)
    def apps() -> dict[str, Any]:
        return {"data": state.apps}

    @app.get("/v1/apps/medical_ner/model", dependencies=v1)
    def medical_ner_model() -> dict[str, Any]:
        return NER_MODEL

    @app.get("/v1/apps/literature_analysis/queries", dependencies=v1)
    def literature_queries() -> dict[str, Any]:
        return SAVED_QUERIES

    @app.post("/v1/apps/literature_analysis/search", dependencies=v1)
    def literature_search(body: dict[str, Any]) -> dict[str, Any]:
        return {"query": body["query"], "knowledge_base": body.get("knowledge_base", "literature"), "results": [PAPER]}

    @app.post("/v1/apps/literature_analysis/pubmed/search", dependencies=v1)
    def literature_pubmed_search(body: dict[str, Any]) -> dict[str, Any]:
        return {"query": body["query"], "count": 1, "results": [{**PAPER, "document_id": None, "score": None}]}

    @app.post("/v1/apps/literature_analysis/pubmed/articles", dependencies=v1)
    def literature_pubmed_add(body: dict[str, Any]) -> dict[str, Any]:
        return {"knowledge_base": body.get("knowledge_base", "literature"), "added": sorted(body["pmids"]), "not_found": []}

    @app.post("/v1/apps/literature_analysis/claims:check", dependencies=v1)
    def literature_check(body: dict[str, Any]) -> dict[str, Any]:
        return {"claim": body["claim"], "verdict": "SUPPORT", "confidence": 0.88, "mode": "model", "model_version": "fake",
                "abstracts": [LIT_ABSTRACT]}

    @app.post("/v1/apps/literature_analysis/contradictions", dependencies=v1)
    def literature_contradictions(body: dict[str, Any]) -> dict[str, Any]:
        against = {**LIT_ABSTRACT, "pmid": "32000002", "label": "CONTRADICT", "document_id": "doc-vitd-2"}
        return {"claim": body["claim"], "verdict": "MIXED", "model_version": "fake", "supporting": [LIT_ABSTRACT],
                "contradicting": [against], "undecided": []}

    @app.post("/v1/apps/literature_analysis/summaries", dependencies=v1)
    def literature_summary(body: dict[str, Any]) -> dict[str, Any]:
        return {**LIT_SUMMARY, "query": body["query"]}

    @app.post("/v1/apps/literature_analysis/summaries:job", dependencies=v1, status_code=202)
    def literature_summary_job(body: dict[str, Any]) -> dict[str, Any]:
        return {"job_id": "job-summary-1", "state": "queued"}

    @app.get("/v1/jobs/{job_id}", dependencies=v1)
    def job(job_id: str) -> dict[str, Any]:
        jobs = {"job-sync-2": ("literature_analysis", "pubmed_sync", "running", {"done": 40, "total": 100}, None),
                "job-summary-1": ("literature_analysis", "summarise", "succeeded", {"done": 1, "total": 1}, LIT_SUMMARY)}
        if job_id not in jobs:
            raise ApiFailure(404, f"job {job_id!r} not found", "not_found")
        app_name, kind, job_state, progress, result = jobs[job_id]
        return {"id": job_id, "object": "job", "app": app_name, "kind": kind, "state": job_state, "progress": progress,
                "payload": {}, "result": result, "error": None, "attempts": 1, "max_attempts": 3, "created_at": _now(),
                "started_at": _now(), "finished_at": None, "next_attempt_at": None}

    @app.get("/v1/apps/{app_name}/conversations", dependencies=v1)
    def conversations(app_name: str) -> dict[str, Any]:
        return {"data": [c for c in state.conversations.values() if c["app"] == app_name]}

    @app.post("/v1/apps/{app_name}/conversations", dependencies=v1)
    def new_conversation(app_name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return state.add_conversation(app_name, (body or {}).get("title"))

    @app.get("/v1/conversations/{conversation_id}/messages", dependencies=v1)
    def messages(conversation_id: str) -> dict[str, Any]:
        conversation(conversation_id)
        return {"data": state.messages[conversation_id]}

    @app.post("/v1/chat/completions", dependencies=v1)
    def chat(body: dict[str, Any]) -> Response:
        if state.broken_chat:
            raise ApiFailure(503, "model endpoint unavailable", "model_unavailable")
        if body["model"] not in {a["name"] for a in state.apps}:
            raise ApiFailure(404, f"unknown app {body['model']}", "model_not_found")
        state.chat_bodies.append(body)
        cid = body.get("conversation_id") or state.add_conversation(body["model"])["id"]
        question = body["messages"][-1]["content"]
        state.add_message(cid, "user", question, author="user")
        tool = None
        if "order" in question.lower():
            tool = {"id": "call_1", "name": "get_order_details", "arguments": {"order_id": ORDER["order_id"]},
                    "output": json.dumps(ORDER), "error": None}
            state.add_message(cid, "assistant", None, tool_calls=[{k: tool[k] for k in ("id", "name", "arguments")}])
            state.add_message(cid, "tool", tool["output"], tool_call_id="call_1", name="get_order_details")
        state.add_message(cid, "assistant", ANSWER, citations=[CITATION])
        if not body.get("stream"):
            return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                                              "finish_reason": "stop"}],
                                 "conversation_id": cid, "citations": [CITATION],
                                 "tool_events": [tool] if tool else []})
        return StreamingResponse(_sse(cid, body["model"], tool, state.broken_stream), media_type="text/event-stream")

    @app.get("/v1/knowledge-bases", dependencies=v1)
    def knowledge_bases() -> dict[str, Any]:
        return {"data": [{"name": kb, "num_documents": len(d)} for kb, d in state.documents.items()]}

    @app.get("/v1/knowledge-bases/{kb}/documents", dependencies=v1)
    def documents(kb: str) -> dict[str, Any]:
        docs = list(state.documents.get(kb, {}).values())
        counts: dict[str, int] = {}
        for doc in docs:
            counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        return {"data": docs, "counts": counts}

    @app.post("/v1/knowledge-bases/{kb}/documents", dependencies=v1, status_code=202)
    def upload(kb: str, file: UploadFile = File(...)) -> dict[str, Any]:
        doc_id = state.add_document(kb, file.filename or "upload")
        return {"id": doc_id, "status": "queued"}

    @app.delete("/v1/knowledge-bases/{kb}/documents/{doc_id}", dependencies=v1, status_code=204)
    def delete(kb: str, doc_id: str) -> Response:
        if doc_id not in state.documents.get(kb, {}):
            raise ApiFailure(404, f"no document {doc_id}", "not_found")
        del state.documents[kb][doc_id]
        return Response(status_code=204)

    def listed(c: dict[str, Any]) -> dict[str, Any]:
        return {**c, "summary": c.get("summary"), "operator": c.get("operator"), "customer": c.get("customer"),
                "waiting_since": c.get("waiting_since"), "waiting_seconds": c.get("waiting_seconds")}

    @app.get("/v1/inbox", dependencies=[*v1, Depends(inbox_guard)])
    def inbox() -> dict[str, Any]:
        waiting = [c for c in state.conversations.values() if c["state"] in ("handed_off", "claimed")]
        return {"data": [listed(c) for c in waiting]}

    @app.get("/v1/conversations", dependencies=v1)
    def search(q: str = "", customer: str = "", state_: list[str] = Query(default=[], alias="state"),
               app_name: str | None = Query(default=None, alias="app"), limit: int = 20, offset: int = 0) -> dict[str, Any]:
        def matches(c: dict[str, Any]) -> bool:
            words = " ".join([c.get("title") or "", c.get("summary") or ""] +
                             [m.get("content") or "" for m in state.messages.get(c["id"], [])]).lower()
            return (q.lower() in words and (c.get("customer") or "").startswith(customer)
                    and (not state_ or c["state"] in state_) and (not app_name or c["app"] == app_name))
        found = [listed(c) for c in state.conversations.values() if matches(c)]
        return {"data": found[offset:offset + limit], "total": len(found), "limit": limit, "offset": offset,
                "has_more": offset + limit < len(found)}

    desk = "/v1/apps/customer_service/desk/conversations/{conversation_id}"

    @app.get(desk + "/customer", dependencies=v1)
    def desk_customer(conversation_id: str) -> dict[str, Any]:
        conversation(conversation_id)
        return state.customers.get(conversation_id) or {"conversation_id": conversation_id, "identity": None,
                                                        "user": None, "orders": []}

    @app.post(desk + "/tool-runs", dependencies=v1)
    def desk_tool_run(conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        conversation(conversation_id)
        writes = body["tool"] not in ("get_order_details", "find_user_id_by_email")
        summary = f"{body['tool']} {json.dumps(body['arguments'], sort_keys=True)}"
        if writes and not body.get("confirm"):
            return {"status": "needs_confirmation", "tool": body["tool"], "arguments": body["arguments"], "summary": summary}
        state.tool_runs.append(body)
        output = {"order_id": body["arguments"].get("order_id", "#W0"), "status": "return requested", "items": []}
        if writes:
            state.add_message(conversation_id, "assistant", f"Done by Alice Moreau from our team: {summary}.",
                              author="operator", name="Alice Moreau")
        return {"status": "done", "tool": body["tool"], "arguments": body["arguments"], "summary": summary,
                "output": output, "message_id": None, "customer": None}

    def transition(conversation_id: str, new_state: str) -> dict[str, Any]:
        conv = conversation(conversation_id)
        conv["state"] = new_state
        return conv

    @app.post("/v1/conversations/{conversation_id}/claim", dependencies=[*v1, Depends(inbox_guard)])
    def claim(conversation_id: str) -> dict[str, Any]:
        return transition(conversation_id, "claimed")

    @app.post("/v1/conversations/{conversation_id}/resolve", dependencies=[*v1, Depends(inbox_guard)])
    def resolve(conversation_id: str) -> dict[str, Any]:
        return transition(conversation_id, "resolved")

    @app.post("/v1/conversations/{conversation_id}/handback", dependencies=[*v1, Depends(inbox_guard)])
    def handback(conversation_id: str) -> dict[str, Any]:
        return transition(conversation_id, "active")

    @app.post("/v1/conversations/{conversation_id}/handoff", dependencies=[*v1, Depends(inbox_guard)])
    def handoff(conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        conversation(conversation_id)["summary"] = body.get("summary")
        return transition(conversation_id, "handed_off")

    @app.post("/v1/conversations/{conversation_id}/operator-messages", dependencies=[*v1, Depends(inbox_guard)])
    def operator_message(conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        conversation(conversation_id)
        state.add_message(conversation_id, "assistant", body["content"], author="operator", name="Alice Moreau")
        return state.messages[conversation_id][-1]

    return app


def _sse(conversation_id: str, model: str, tool: dict[str, Any] | None, broken: bool = False) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                "conversation_id": conversation_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant"})
    if broken:  # a failure after the first byte is reported in-band, as OpenAI does
        yield f"data: {json.dumps({'error': {'message': 'model timed out', 'type': 'upstream_error', 'code': 504}})}\n\n"
        yield "data: [DONE]\n\n"
        return
    if tool:
        yield chunk({}, moesaic_event={"type": "tool_call", **tool})
    for word in ANSWER.split(" "):
        yield chunk({"content": word + " "})
    yield chunk({}, "stop", citations=[CITATION], conversation_state="active")
    yield "data: [DONE]\n\n"


class LiveServer:
    """uvicorn on a free local port, in a daemon thread."""

    def __init__(self, app: FastAPI, *, lifespan: str = "off") -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan=lifespan)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
