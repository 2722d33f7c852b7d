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
from dataclasses import dataclass
from itertools import chain
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, StreamingResponse

from moesaic.agent import AgentEvent, AgentResult, TextDelta, ToolEvent
from moesaic.access import access
from moesaic.api.deps import PlatformDep, PrincipalDep, require_chat_app
from moesaic.api.openapi import REF_PREFIX
from moesaic.errors import error_responses
from moesaic.api.schemas import ChatCompletion, ChatCompletionRequest
from moesaic.api.streaming import in_own_thread
from moesaic.db import new_id
from moesaic.errors import MoesaicError, UserError
from moesaic.memory.store import ConversationInfo
from moesaic.memory.turns import IDEMPOTENCY_HEADER, Attempt, fingerprint
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
    **error_responses(400, 409, 502, 504),
}


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses=CHAT_RESPONSES,
    openapi_extra=access(app="body:model", conversation="body:conversation_id", knowledge_base="body:knowledge_base"),
)
def create_chat_completion(
    body: ChatCompletionRequest,
    platform: PlatformDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=255,
                                                  description=IDEMPOTENCY_DOC)] = None,
) -> Any:
    """OpenAI's chat completions; ``model`` names the app (one with a chat part). 400: ``conversation_id``
    belongs to another app, or the app has no chat; 409: another turn of the conversation is running (nothing
    of this request is stored; retry after ``Retry-After``); 502/504: the model service failed or timed out
    before the first byte (the user's message is stored either way). Client-defined ``tools`` are refused
    (400 naming ``tools``): the app's own tools run on the server. ``max_tokens`` cuts the answer
    (``finish_reason`` ``length``)."""
    reject_client_tools(body)
    app = require_chat_app(platform, principal, body.model)  # the gate checked the principal may use it
    tenant = principal.tenant_id
    if body.knowledge_base and body.knowledge_base != app.knowledge_base:  # the app's own is made on first use
        platform.knowledge.require_knowledge_base(tenant, body.knowledge_base)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    attempt = None
    platform.turns.deferred.retry()  # turns that ended while the database was away let their conversations go
    if idempotency_key is not None:
        attempt = platform.chat_requests.begin(tenant, principal.id, idempotency_key, fingerprint(body.model_dump(mode="json")))
        if attempt.replay is not None:  # the first request with this key answered: the same answer again
            if body.stream:
                return StreamingResponse(_replay_sse(attempt.replay, include_usage), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache"})
            return JSONResponse(attempt.replay)
    try:
        turn = _start_turn(body, platform, tenant, app.name, attempt)
    except BaseException as exc:
        if attempt is not None:
            platform.chat_requests.fail(attempt.id, str(exc))
        raise
    conversation = turn.conversation
    try:
        agent = platform.agent(app, tenant, conversation.id, principal)
        started = time.perf_counter()
        events = turn.renewing(agent.run(
            conversation.id,
            body.messages[-1].text(),
            knowledge_base=body.knowledge_base or conversation.metadata.get("knowledge_base"),  # remembered from its first turn
            stream=body.stream,
            temperature=body.temperature,
            max_tokens=body.max_tokens,
            resume=turn.resume,
            conversation=conversation,
        ))
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
            completion = completion_body(result, app.name, created)
            turn.end(completion)
            return JSONResponse(completion)
    except BaseException as exc:
        turn.end(None, str(exc))
        raise
    stream = _sse(chain([first], events), app.name, conversation.id, created, include_usage, platform, started, turn)
    return StreamingResponse(in_own_thread(stream), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


IDEMPOTENCY_DOC = (
    "Makes the request safe to retry: the first request with a key runs the turn; a retry with the same key and "
    "body gets the same answer (while the first still runs: 409 with Retry-After; after it failed: the turn runs "
    "again, storing the user's message once). The same key with another body is a 422. Kept 24 hours, per key."
)


@dataclass
class Turn:
    """One running turn: the conversation it holds (``TurnLocks``) and its idempotency record, if any."""

    platform: Any
    conversation: ConversationInfo
    token: str
    attempt_id: str | None
    resume: bool
    ended: bool = False

    def renewing(self, events: Iterator[AgentEvent]) -> Iterator[AgentEvent]:
        """``events``, renewing the conversation's turn lock while they come."""
        interval = self.platform.settings.turn_lock_seconds / 4
        renewed = time.monotonic()
        for event in events:
            if time.monotonic() - renewed > interval:
                self.platform.turns.renew(self.conversation.id, self.token)
                renewed = time.monotonic()
            yield event

    def end(self, completion: dict[str, Any] | None, error: str = "") -> None:
        """Let the conversation go; keep the answer (or the failure) for a retry with the same key."""
        if self.ended:
            return
        self.ended = True
        try:
            if self.attempt_id is not None:
                if completion is not None:
                    self.platform.chat_requests.finish(self.attempt_id, completion)
                else:
                    self.platform.chat_requests.fail(self.attempt_id, error or "the turn did not finish")
        finally:
            self.platform.turns.release(self.conversation.id, self.token)


def _start_turn(body: ChatCompletionRequest, platform: Any, tenant: str, app: str, attempt: Attempt | None) -> Turn:
    """Take the conversation (made now, with the earlier messages sent, when the request names none) for this
    turn. Everything that can refuse the request runs before anything is stored."""
    conversation_id = body.conversation_id or (attempt.conversation_id if attempt else None)
    if conversation_id:
        token, conversation = platform.turns.take(tenant, conversation_id, app)  # read once taken: the last turn's writes are in
        try:
            if body.knowledge_base and body.knowledge_base != conversation.metadata.get("knowledge_base"):
                metadata = {**conversation.metadata, "knowledge_base": body.knowledge_base}
                conversation = platform.store.update(tenant, conversation.id, metadata=metadata)
            if attempt is not None and attempt.conversation_id is None:
                platform.chat_requests.attach(attempt.id, conversation.id, platform.store.last_seq(tenant, conversation.id))
        except BaseException:
            platform.turns.release(conversation_id, token)
            raise
    else:
        remembered = {"knowledge_base": body.knowledge_base} if body.knowledge_base else None
        earlier = [Message(role=m.role, content=m.text()) for m in body.messages[:-1]
                   if m.role in ("user", "assistant") and m.text()]
        token = new_id()
        conversation = platform.store.create(tenant, app, metadata=remembered, messages=earlier, turn_holder=token)
        if attempt is not None:
            platform.chat_requests.attach(attempt.id, conversation.id, len(earlier))
    return Turn(platform, conversation, token, attempt.id if attempt else None, bool(attempt and attempt.resume))


def _replay_sse(completion: dict[str, Any], include_usage: bool) -> Iterator[str]:
    """A stored completion as the stream a retried streaming request would have got."""
    conversation_id = completion["conversation_id"]

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                "model": completion["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                "conversation_id": conversation_id, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    choice = completion["choices"][0]
    yield chunk({"role": "assistant", "content": ""})
    for event in completion.get("tool_events", []):
        yield chunk({}, moesaic_event={"type": "tool_call", **event})
    if choice["message"]["content"]:
        yield chunk({"content": choice["message"]["content"]})
    yield chunk({}, choice["finish_reason"], citations=completion["citations"],
                conversation_state=completion["conversation_state"])
    if include_usage:
        body = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                "model": completion["model"], "choices": [], "usage": completion["usage"], "conversation_id": conversation_id}
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


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
    events: Iterator[AgentEvent], app: str, conversation_id: str, created: int, include_usage: bool, platform: Any,
    started: float, turn: Turn,
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

    error = "the client left before the answer ended"
    try:  # from the first chunk on: a client gone before it still lets the conversation go (finally)
        yield chunk({"role": "assistant", "content": ""})
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
                turn.end(completion_body(event, app, created) | {"id": chunk_id})
        platform.metrics.chat_requests.labels(app, "ok").inc()
    except MoesaicError as exc:  # after the first byte: report in-band, as OpenAI does
        error = str(exc)
        platform.metrics.chat_requests.labels(app, "error").inc()
        status = getattr(exc, "status", 500)
        body = {"message": str(exc), "type": "upstream_error", "param": None, "code": status}
        yield f"data: {json.dumps({'error': body})}\n\n"
    finally:
        turn.end(None, error)  # a no-op when the answer was kept above
    platform.metrics.chat_latency.labels(app).observe(time.perf_counter() - started)
    yield "data: [DONE]\n\n"
