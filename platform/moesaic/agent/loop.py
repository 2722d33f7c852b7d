"""The agent loop: retrieve, call the model, run tool calls, repeat up to a step limit, answer.

``Agent.run`` is a generator of events (text deltas and tool events) that ends with one
``AgentResult``; the API streams the events or collects them. The user's message is stored
before the first model call, so a failure never loses it. Tools that write need the user's
explicit confirmation: the first call is held back and the model is told to ask for it. Tools that
need the conversation's identity (``moesaic.identity``) are refused, in the app's wording, until a tool
authenticated the person, and on records of anyone else; the identity is kept in the conversation.
The offline model's dialogue state (``ModelReply.dialogue_state``) is kept in the conversation too.
A conversation's first question may be answered from the answer cache (``agent.caching``, ``moesaic.answers``)
before retrieval; an answer made without tools and without moving the dialogue on is kept there.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from moesaic.answers import AnswerCache, ResolvedPolicy
from moesaic.agent.caching import CachedTurn, citation_from_dict
from moesaic.apps import AppManifest, ToolContext
from moesaic.errors import UpstreamError
from moesaic.identity import METADATA_KEY as IDENTITY_KEY, Identity, identity_refusal
from moesaic.llm.base import ChatModel, ModelReply, ModelRequest
from moesaic.llm.offline import CONFIRMATION_REQUIRED
from moesaic.memory.store import INTERRUPTED, ConversationInfo, ConversationStore
from moesaic.metrics import Metrics
from moesaic.access.audit import record
from moesaic.agent.citing import CITATION_MARK_PATTERN, CitationNumbering, cite_sentences, renumber_citations
from moesaic.agent.pii import StreamRevealer, hide_pii, reveal_pii
from moesaic.privacy import PiiVault
from moesaic.tools.execute import ToolResult, run_tool_call
from moesaic.types import Chunk, Citation, Message, ToolCall, Usage

AFFIRMATIVE = re.compile(r"^\s*(yes|y|yeah|yep|confirm(ed)?|go ahead|please do|do it|sure|ok(ay)?|correct|proceed)\b", re.I)
CITATION_MARK = re.compile(CITATION_MARK_PATTERN)
DIALOGUE_KEY = "dialogue"  # conversation metadata: the offline dialogue's state
HANDED_OFF_NOTE = "A person from our team is handling this conversation and will reply here."
HANDOFF_REPLY = "I have passed this conversation to a person from our team, who will reply here."
PAUSED_STATES = ("handed_off", "claimed")
# an answer that says the sources do not hold it (the extractive model's words, or a prompted model's)
NOT_FOUND = re.compile(r"\b(could not|couldn't|cannot|can't|did not|didn't|was unable to|unable to) find\b", re.I)


class Retriever(Protocol):
    def search(self, tenant_id: str, kb: str, query: str, *, top_k: int = 4, mode: str = "hybrid") -> list[Chunk]: ...


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolEvent:
    call: ToolCall
    output: str
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.call.id, "name": self.call.name, "arguments": self.call.arguments, "output": self.output, "error": self.error}


@dataclass
class AgentResult:
    conversation_id: str
    content: str
    citations: list[Citation] = field(default_factory=list)
    tool_events: list[ToolEvent] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    state: str = "active"
    finish_reason: str = "stop"
    message_id: str | None = None


AgentEvent = TextDelta | ToolEvent | AgentResult


@dataclass
class Agent:
    app: AppManifest
    model: ChatModel
    store: ConversationStore
    retriever: Retriever | None
    tool_context: ToolContext
    max_steps: int = 6
    top_k: int = 4
    history_budget: int = 3000
    metrics: Metrics | None = None
    redact_model_input: bool = False  # hide PII from the model behind reversible placeholders
    answer_cache: AnswerCache | None = None  # repeated first-turn questions (moesaic.answers); None: no cache
    answer_policy: ResolvedPolicy | None = None

    def run(
        self,
        conversation_id: str,
        user_text: str,
        *,
        knowledge_base: str | None = None,
        stream: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        resume: bool = False,
        conversation: ConversationInfo | None = None,
    ) -> Iterator[AgentEvent]:
        """``resume``: the user's message is already stored (a retried request whose first attempt failed).
        ``conversation``: the conversation as read after this turn took it (read here when not given)."""
        tenant = self.tool_context.tenant_id
        if conversation is None or conversation.id != conversation_id:
            conversation = self.store.get(tenant, conversation_id)
        self.tool_context.identity = Identity.from_metadata(conversation.metadata)
        dialogue = conversation.metadata.get(DIALOGUE_KEY)
        dialogue_state: dict[str, Any] = dict(dialogue) if isinstance(dialogue, dict) else {}
        user_seq: int | None = None  # the user's message's seq, when stored now (the cache counts earlier messages)
        if not resume:
            user_seq = self.store.append(tenant, conversation_id, Message(role="user", content=user_text))["seq"]
        if conversation.state in PAUSED_STATES:  # a person answers; the note is stored so a reload shows the reply
            stored = self.store.append(tenant, conversation_id, Message(role="assistant", content=HANDED_OFF_NOTE))
            yield AgentResult(conversation_id, HANDED_OFF_NOTE, state=conversation.state, finish_reason="handed_off", message_id=stored["id"])
            return
        if conversation.state == "resolved":  # the customer wrote again: the bot picks it up
            self.store.update(tenant, conversation_id, state="active")
        refusal = self._check_scope(conversation_id, user_text)
        if refusal is not None:  # out of the app's scope: a polite refusal, no retrieval, no model, no tools
            if stream:
                yield TextDelta(refusal)
            yield self._finish(conversation_id, refusal, [], [], Usage(), ModelReply(content=refusal, finish_reason="out_of_scope"))
            return

        cached = self._cached_turn(conversation_id, conversation.metadata, user_text, knowledge_base or self.app.knowledge_base,
                                   max_tokens, user_seq)
        if cached is not None and cached.hit is not None:  # no retrieval, no model: the stored answer again
            yield from self._serve_cached(conversation_id, cached, stream)
            return
        passages = self._retrieve(knowledge_base or self.app.knowledge_base, user_text)
        citations = [Citation.from_chunk(i, chunk) for i, chunk in enumerate(passages, start=1)]
        system = Message(role="system", content=build_system_prompt(self.app.system_prompt_for(self.tool_context.settings), passages))
        texts: list[str] = []
        events: list[ToolEvent] = []
        usage = Usage()
        numbering = CitationNumbering(len(passages))  # one numbering for every step, as _finish renumbers the whole answer
        for _step in range(self.max_steps):
            history = self.store.history(tenant, conversation_id, self.history_budget)
            request = ModelRequest(
                messages=[system, *history],
                tools=self.app.tools,
                passages=passages,
                offline=self.app.offline,
                temperature=temperature,
                max_tokens=max_tokens,
                dialogue_state=dialogue_state,
                identity=self.tool_context.identity.subject if self.tool_context.identity else None,
            )
            reply = yield from self._call_model(conversation_id, request, stream, numbering)
            if reply.dialogue_state is not None and reply.dialogue_state != dialogue_state:
                cached = None  # the answer moved the dialogue on: a fresh conversation would need the model again
                dialogue_state = dict(reply.dialogue_state)
                self.store.update_metadata(tenant, conversation_id, **{DIALOGUE_KEY: dialogue_state or None})
            usage = Usage(usage.prompt_tokens + reply.usage.prompt_tokens, usage.completion_tokens + reply.usage.completion_tokens)
            if reply.content:
                texts.append(reply.content)
            if not reply.tool_calls:
                result = self._finish(conversation_id, "\n\n".join(texts), citations, events, usage, reply, passages)
                if cached is not None and not events and result.finish_reason == "stop":  # no tool shaped it
                    cached.keep(result.content, result.citations, conversation_id)
                yield result
                return
            self.store.append(tenant, conversation_id, reply.as_message(), completion_tokens=reply.usage.completion_tokens)
            for call in reply.tool_calls:
                event = self._run_tool(conversation_id, call, history)
                events.append(event)
                yield event
            if self.tool_context.handoff_summary is not None:
                self.store.update(tenant, conversation_id, state="handed_off", summary=self.tool_context.handoff_summary)
                final = ModelReply(content=HANDOFF_REPLY, finish_reason="handed_off")
                if stream:
                    yield TextDelta(HANDOFF_REPLY)
                result = self._finish(conversation_id, HANDOFF_REPLY, [], events, usage, final)
                result.state = "handed_off"
                yield result
                return
        note = f"I stopped after {self.max_steps} steps without a final answer."
        if stream:
            yield TextDelta(note)
        texts.append(note)
        yield self._finish(conversation_id, "\n\n".join(texts), citations, events, usage, ModelReply(content=note, finish_reason="length"), passages)

    # steps -------------------------------------------------------------------------------------
    def _cached_turn(self, conversation_id: str, metadata: dict[str, Any], user_text: str, knowledge_base: str | None,
                     max_tokens: int | None, user_seq: int | None) -> CachedTurn | None:
        if self.answer_cache is None or self.answer_policy is None:
            return None
        tenant = self.tool_context.tenant_id
        last_seq = user_seq if user_seq is not None else self.store.last_seq(tenant, conversation_id)
        return CachedTurn.begin(
            self.answer_cache, self.answer_policy, tenant_id=tenant, app=self.app.name,
            app_fingerprint=self.app.fingerprint(self.tool_context.settings), knowledge_base=knowledge_base,
            question=user_text, num_earlier_messages=last_seq - 1,
            conversation_metadata=metadata, max_tokens=max_tokens, metrics=self.metrics)

    def _serve_cached(self, conversation_id: str, cached: CachedTurn, stream: bool) -> Iterator[AgentEvent]:
        """The cached (or pinned) answer, stored as this turn's answer and marked as served from the cache."""
        hit = cached.hit
        assert hit is not None, "_serve_cached needs a hit"
        message = self.store.append(self.tool_context.tenant_id, conversation_id, Message(role="assistant", content=hit.answer),
                                    citations=hit.citations or None, metadata=hit.message_metadata())
        if stream:
            yield TextDelta(hit.answer)
        yield AgentResult(conversation_id, hit.answer, [citation_from_dict(c) for c in hit.citations], [], Usage(),
                          message_id=message["id"])

    def _check_scope(self, conversation_id: str, user_text: str) -> str | None:
        if self.app.scope_check is None:
            return None
        earlier = self.store.history(self.tool_context.tenant_id, conversation_id, self.history_budget)[:-1]
        refusal: str | None = self.app.scope_check(user_text, earlier, self.tool_context)
        return refusal

    def _retrieve(self, knowledge_base: str | None, query: str) -> list[Chunk]:
        if self.retriever is None or not knowledge_base:
            return []
        started = time.perf_counter()
        chunks = self.retriever.search(self.tool_context.tenant_id, knowledge_base, query, top_k=self.top_k)
        if self.metrics:
            self.metrics.retrieval_latency.labels(self.app.name).observe(time.perf_counter() - started)
        return chunks

    def _call_model(
        self, conversation_id: str, request: ModelRequest, stream: bool, numbering: CitationNumbering
    ) -> Generator[AgentEvent, None, ModelReply]:
        """One model call; streamed text comes out with dense citation numbers (as ``_finish`` stores it)."""
        tenant = self.tool_context.tenant_id
        vault = PiiVault() if self.redact_model_input else None
        if vault is not None:
            request = hide_pii(request, vault)
        reply: ModelReply | None = None
        shown: list[str] = []  # the text the client already got, kept if the model fails mid-stream
        try:
            if not stream:
                reply = self.model.generate(request)
            else:
                reveal = StreamRevealer(vault)
                for item in self.model.stream(request):
                    if isinstance(item, ModelReply):
                        reply = item
                    elif text := numbering.push(reveal.push(item)):
                        shown.append(text)
                        yield TextDelta(text)
                if text := numbering.push(reveal.flush()) + numbering.flush():
                    yield TextDelta(text)
        except UpstreamError as exc:
            if self.metrics:
                self.metrics.model_errors.labels(self.app.name, type(exc).__name__).inc()
            partial = "".join(shown)
            error = f"{INTERRUPTED}{exc}" if partial else str(exc)  # the partial answer is stored, marked as cut off
            self.store.append(tenant, conversation_id, Message(role="assistant", content=partial), error=error)
            raise
        assert reply is not None, "model stream ended without a reply"
        return reveal_pii(reply, vault) if vault is not None else reply

    def _run_tool(self, conversation_id: str, call: ToolCall, history: list[Message]) -> ToolEvent:
        tenant = self.tool_context.tenant_id
        spec = self.app.tool(call.name)
        before = self.tool_context.identity
        refusal = self._identity_refusal(spec, call)
        held = (refusal is None and spec is not None and spec.writes and self.app.confirm_writes
                and not self._confirmed(conversation_id, call, history))
        if refusal is not None:  # enforced for every model, before the tool runs: nothing of the record leaks
            result = ToolResult(call, f"Error: {refusal}", refusal, 0.0)
        elif held:
            result = ToolResult(
                call,
                f"{CONFIRMATION_REQUIRED}: this action changes data and was not run. Tell the user exactly what "
                f"will happen ({call.name} with {call.arguments}) and ask them to reply 'yes' to confirm; "
                "call the tool again with the same arguments only after they confirm.",
                "confirmation required",
                0.0,
            )
        else:
            result = run_tool_call(spec, call, {"ctx": self.tool_context})
            result = self._keep_identity(conversation_id, call, result, before)
        self.store.record_tool_call(tenant, conversation_id, call, result.output, result.error, result.duration_ms)
        if spec is not None and spec.writes and not held and not result.error:  # a change to the app's data
            record(self.tool_context.db, self.tool_context.principal, f"tool {call.name}", tenant_id=tenant,
                   app=self.app.name, target=conversation_id, detail={"call_id": call.id})
        self.store.append(tenant, conversation_id, Message(role="tool", content=result.output, tool_call_id=call.id, name=call.name))
        if self.metrics:
            outcome = "held" if held else ("error" if result.error else "ok")
            self.metrics.tool_calls.labels(self.app.name, call.name, outcome).inc()
        return ToolEvent(call, result.output, result.error)

    def _identity_refusal(self, spec: Any, call: ToolCall) -> str | None:
        if spec is None or not spec.requires_identity:
            return None
        try:
            arguments = spec.parse_arguments(call.arguments)
        except Exception:  # bad arguments: the tool run reports them in its own words
            return None
        return identity_refusal(spec, arguments, self.tool_context, self.app.identity)

    def _keep_identity(self, conversation_id: str, call: ToolCall, result: ToolResult, before: Identity | None) -> ToolResult:
        """Store an identity the tool established; refuse a second, different person in one conversation."""
        after = self.tool_context.identity
        if after == before:
            return result
        if result.error is not None:  # a failed lookup authenticates nobody
            self.tool_context.identity = before
            return result
        if before is not None and after is not None and after.subject != before.subject:
            self.tool_context.identity = before
            refusal = self.app.identity.other_subject
            return ToolResult(call, f"Error: {refusal}", refusal, result.duration_ms)
        self.store.update_metadata(self.tool_context.tenant_id, conversation_id,
                                   **{IDENTITY_KEY: after.to_dict() if after else None})
        return result

    def _confirmed(self, conversation_id: str, call: ToolCall, history: list[Message]) -> bool:
        """A write runs only if it was held back before with the same arguments and the user said yes since."""
        tenant = self.tool_context.tenant_id
        wanted = {"name": call.name, "arguments": canonical_arguments(call.arguments)}
        metadata = self.store.get(tenant, conversation_id).metadata
        pending = metadata.get("pending_action") or {}
        messages = self.store.messages(tenant, conversation_id)
        user_seqs = [m["seq"] for m in messages if m["role"] == "user"]
        last_user = next((m.content for m in reversed(history) if m.role == "user"), "")
        if (
            {k: pending.get(k) for k in wanted} == wanted
            and user_seqs
            and user_seqs[-1] > pending.get("held_at_seq", 10**9)
            and AFFIRMATIVE.match(last_user)
        ):
            self.store.update(tenant, conversation_id, metadata={**metadata, "pending_action": None})
            return True
        held = {**wanted, "held_at_seq": messages[-1]["seq"] if messages else 0}
        self.store.update(tenant, conversation_id, metadata={**metadata, "pending_action": held})
        return False

    def _finish(
        self, conversation_id: str, content: str, citations: list[Citation], events: list[ToolEvent], usage: Usage, reply: ModelReply,
        passages: list[Chunk] | None = None,
    ) -> AgentResult:
        fallback = self.app.offline.fallback
        not_found = bool(NOT_FOUND.search(content)) or bool(fallback and fallback in content)
        used = used_citations(content, citations, used_tools=bool(events), not_found=not_found)
        cited = cite_sentences(content, used, passages or [])
        content, cited = renumber_citations(content, cited, len(passages or []))
        message = self.store.append(
            self.tool_context.tenant_id,
            conversation_id,
            Message(role="assistant", content=content),
            citations=[c.to_dict() for c in cited] or None,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
        if self.metrics:
            self.metrics.tokens.labels(self.app.name, "prompt").inc(usage.prompt_tokens)
            self.metrics.tokens.labels(self.app.name, "completion").inc(usage.completion_tokens)
        return AgentResult(
            conversation_id, content, cited, events, usage, "active", reply.finish_reason if reply.finish_reason != "tool_calls" else "stop", message["id"]
        )


def canonical_arguments(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except json.JSONDecodeError:
        return arguments


def used_citations(content: str, citations: list[Citation], used_tools: bool = False, not_found: bool = False) -> list[Citation]:
    """The citations the answer refers to with [n]. An answer with no markers gets all retrieved
    sources, unless it came from tool results (then the sources were not what it used) or it says
    that the sources do not hold the answer (``not_found``)."""
    marks = {int(m) for m in CITATION_MARK.findall(content)}
    if not marks:
        return [] if used_tools or not_found else citations
    return [c for c in citations if c.index in marks]


def build_system_prompt(app_prompt: str, passages: list[Chunk]) -> str:
    if not passages:
        return app_prompt
    sources = "\n\n".join(f"[{i}] {p.title}\n{p.text}" for i, p in enumerate(passages, start=1))
    return (
        f"{app_prompt}\n\nUse these sources when they help, and cite them with their number in brackets, "
        f"like [1]. If they do not answer the question, say so.\n\nSources:\n{sources}"
    )

