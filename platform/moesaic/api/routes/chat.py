"""``POST /v1/chat/completions``: OpenAI-compatible chat over an app, with Moesaic's extensions.

``model`` names the app. Extensions: request ``conversation_id`` / ``knowledge_base``; response
``conversation_id``, ``conversation_state``, ``citations`` and ``tool_events``; stream chunks carry
``conversation_id`` and tool activity as ``moesaic_event``. A model failure before the first byte is a
502/504 JSON error, after it an in-band error event; the user's message is stored either way. The
shapes are documented by ``api.schemas.chat`` (the JSON is built here, byte for byte as before).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from moesaic.agent import AgentEvent, AgentResult, TextDelta, ToolEvent
from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep, require_chat_app
from moesaic.api.openapi import REF_PREFIX, error_responses
from moesaic.api.schemas import ChatCompletion, ChatCompletionRequest
from moesaic.errors import MoesaicError, UserError
from moesaic.types import Message

router = APIRouter(tags=["chat"])
STREAM_EVENT_SCHEMA = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"oneOf": [{"$ref": REF_PREFIX + "ChatCompletionChunk"}, {"$ref": REF_PREFIX + "StreamError"}]},
            "description": "A ChatCompletionChunk, or a StreamError when the model fails after the stream started; "
            "the last event's data is the literal `[DONE]`.",
        }
    },
}
CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatCompletion,
        "description": "With `stream` false, one ChatCompletion (JSON). With `stream` true, server-sent events: "
        "each `data:` line holds a ChatCompletionChunk (role, text deltas, tool events as `moesaic_event`, then a "
        "final chunk with `finish_reason`, `citations` and `conversation_state`, then a usage chunk if "
        "`stream_options.include_usage`), or a StreamError; the stream ends with `data: [DONE]`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "itemSchema": STREAM_EVENT_SCHEMA}},
    },
    **error_responses(400, 502, 504),
}


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses=CHAT_RESPONSES,
    openapi_extra=access(app="body:model", conversation="body:conversation_id", knowledge_base="body:knowledge_base"),
)
def create_chat_completion(body: ChatCompletionRequest, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """OpenAI's chat completions; ``model`` names the app (one with a chat part). 400: ``conversation_id``
    belongs to another app, or the app has no chat; 502/504: the model service failed or timed out before
    the first byte (the user's message is stored either way). Client-defined ``tools`` are refused
    (400 naming ``tools``): the app's own tools run on the server. ``max_tokens`` cuts the answer
    (``finish_reason`` ``length``)."""
    reject_client_tools(body)
    app = require_chat_app(platform, principal, body.model)  # the gate checked the principal may use it
    tenant = principal.tenant_id
    if body.knowledge_base and body.knowledge_base != app.knowledge_base:  # the app's own is made on first use
        platform.knowledge.require_knowledge_base(tenant, body.knowledge_base)
    if body.conversation_id:
        conversation = platform.store.get(tenant, body.conversation_id)
        if conversation.app != app.name:
            raise UserError(
                f"conversation {body.conversation_id!r} belongs to app {conversation.app!r}, not {app.name!r}",
                field="conversation_id",
            )
        if body.knowledge_base and body.knowledge_base != conversation.metadata.get("knowledge_base"):
            metadata = {**conversation.metadata, "knowledge_base": body.knowledge_base}
            conversation = platform.store.update(tenant, conversation.id, metadata=metadata)
    else:
        remembered = {"knowledge_base": body.knowledge_base} if body.knowledge_base else None
        conversation = platform.store.create(tenant, app.name, metadata=remembered)
        for earlier in body.messages[:-1]:
            if earlier.role in ("user", "assistant") and earlier.text():
                platform.store.append(tenant, conversation.id, Message(role=earlier.role, content=earlier.text()))

    agent = platform.agent(app, tenant, conversation.id, principal)
    started = time.perf_counter()
    events = agent.run(
        conversation.id,
        body.messages[-1].text(),
        knowledge_base=body.knowledge_base or conversation.metadata.get("knowledge_base"),  # remembered from its first turn
        stream=body.stream,
        temperature=body.temperature,
        max_tokens=body.max_tokens,
    )
    try:
        first = next(events)  # fail before any byte is sent, so errors keep their status code
    except MoesaicError:
        platform.metrics.chat_requests.labels(app.name, "error").inc()
        raise
    created = int(time.time())
    if not body.stream:
        result = _collect(chain([first], events))
        platform.metrics.chat_requests.labels(app.name, "ok").inc()
        platform.metrics.chat_latency.labels(app.name).observe(time.perf_counter() - started)
        return JSONResponse(completion_body(result, app.name, created))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    stream = _sse(chain([first], events), app.name, conversation.id, created, include_usage, platform, started)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


CLIENT_TOOL_FIELDS = ("tools", "functions")  # OpenAI's client-run tools (and their deprecated form)


def reject_client_tools(body: ChatCompletionRequest) -> None:
    """Client-defined tools are refused with a 400 naming the field, not silently ignored: an app's
    tools are declared in its manifest and run on the server (the response's ``tool_events``)."""
    for name in CLIENT_TOOL_FIELDS:
        if (body.model_extra or {}).get(name):
            raise UserError(
                f"client-defined {name!r} are not supported: the app's own tools run on the server and are "
                f"reported in 'tool_events'; send the request without {name!r}",
                field=name,
            )


def _collect(events: Iterator[AgentEvent]) -> AgentResult:
    for event in events:
        if isinstance(event, AgentResult):
            return event
    raise AssertionError("the agent loop ended without a result")


def completion_body(result: AgentResult, app: str, created: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{result.message_id or result.conversation_id}",
        "object": "chat.completion",
        "created": created,
        "model": app,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.content},
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": _usage(result),
        "conversation_id": result.conversation_id,
        "conversation_state": result.state,
        "citations": [c.to_dict() for c in result.citations],
        "tool_events": [e.to_dict() for e in result.tool_events],
    }


def _usage(result: AgentResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "total_tokens": result.usage.total_tokens,
    }


def _sse(
    events: Iterator[AgentEvent], app: str, conversation_id: str, created: int, include_usage: bool, platform: Any, started: float
) -> Iterator[str]:
    chunk_id = f"chatcmpl-{conversation_id}-{created}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": app,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "conversation_id": conversation_id,
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, ToolEvent):
                yield chunk({}, moesaic_event={"type": "tool_call", **event.to_dict()})
            elif isinstance(event, AgentResult):
                if event.state != "active" and event.finish_reason == "handed_off" and not event.tool_events:
                    yield chunk({"content": event.content})
                yield chunk(
                    {},
                    event.finish_reason,
                    citations=[c.to_dict() for c in event.citations],
                    conversation_state=event.state,
                )
                if include_usage:
                    body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": app,
                            "choices": [], "usage": _usage(event), "conversation_id": conversation_id}
                    yield f"data: {json.dumps(body)}\n\n"
        platform.metrics.chat_requests.labels(app, "ok").inc()
    except MoesaicError as exc:  # after the first byte: report in-band, as OpenAI does
        platform.metrics.chat_requests.labels(app, "error").inc()
        status = getattr(exc, "status", 500)
        error = {"message": str(exc), "type": "upstream_error", "param": None, "code": status}
        yield f"data: {json.dumps({'error': error})}\n\n"
    platform.metrics.chat_latency.labels(app).observe(time.perf_counter() - started)
    yield "data: [DONE]\n\n"
