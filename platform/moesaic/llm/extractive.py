"""``ExtractiveModel``: the offline default. No language model at all.

It answers by quoting the retrieved passages whose sentences share the most words with the
question, each with its citation marker, and runs read-only tools that the app's offline rules
derive from the user's message. It never invents text, and it says plainly that no generative
model is configured. It does not call write tools: those need a real model and a confirmation.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from moesaic.llm.base import ChatModel, ModelReply, ModelRequest, estimate_tokens
from moesaic.llm.offline import DialogueStep, DialogueTurn, ToolOutcome
from moesaic.sentences import split_sentences
from moesaic.types import Message, ToolCall, Usage

NO_MODEL_NOTE = "No generative model is configured, so this answer repeats the sources and lookups word for word."
NOTHING_FOUND = "I could not find anything about this in the knowledge base."
_WORD = re.compile(r"[a-z0-9#@._-]+")
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i if in is it its me my of on or "
    "our so that the their there this to was we what when where which who why will with you your "
    "about into than then them they these those been being would could should please tell".split()
)
MAX_SENTENCES = 4


def _stem(word: str) -> str:
    """A light suffix stripper, so that 'returned' meets 'return' and 'days' meets 'day'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    words = {w.strip("._-") for w in _WORD.findall(text.lower())}
    parts = {part for w in words for part in _identifier_parts(w)}  # "support_hours.saturday" also meets "saturday"
    return {_stem(w) for w in words | parts if w and w not in _STOPWORDS and len(w) > 1}


def _identifier_parts(word: str) -> list[str]:
    """The words of a dotted/snake_case key path (``support_hours.saturday``); nothing for other tokens."""
    parts = re.split(r"[._]", word)
    return parts if len(parts) > 1 and all(part.isalpha() for part in parts) else []


def _last_user_index(messages: list[Message]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return -1


def _dialogue_turn(request: ModelRequest, last_user: int) -> DialogueTurn:
    messages = list(request.messages)
    question = messages[last_user].content if last_user >= 0 else ""
    arguments: dict[str, dict[str, Any]] = {}
    results = []
    for message in messages[last_user + 1:]:
        for call in message.tool_calls:
            try:
                arguments[call.id] = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments[call.id] = {}
        if message.role == "tool":
            results.append(ToolOutcome(message.name or "", arguments.get(message.tool_call_id or "", {}), message.content))
    last_reply = next((m.content for m in reversed(messages[:max(last_user, 0)]) if m.role == "assistant" and m.content), "")
    return DialogueTurn(question, dict(request.dialogue_state), request.identity, tuple(results), last_reply)


def render_value(value: Any, indent: str = "") -> str:
    """Render a tool's JSON output as readable lines."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{indent}- {key}:")
                lines.append(render_value(item, indent + "  "))
            else:
                lines.append(f"{indent}- {key}: {item}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(render_value(item, indent) if isinstance(item, (dict, list)) else f"{indent}- {item}" for item in value)
    return f"{indent}{value}"


class ExtractiveModel(ChatModel):
    name = "extractive"

    def _generate(self, request: ModelRequest) -> ModelReply:
        messages = list(request.messages)
        last_user = _last_user_index(messages)
        question = messages[last_user].content if last_user >= 0 else ""
        tool_results = [m for m in messages[last_user + 1 :] if m.role == "tool"]

        if request.offline.dialogue is not None:
            step = request.offline.dialogue(_dialogue_turn(request, last_user))
            if step is not None:
                return self._dialogue_reply(request, step)
        if not tool_results:
            calls = self._rule_calls(request, question)
            if calls:
                return ModelReply(content="", tool_calls=calls, finish_reason="tool_calls", model=self.name)

        parts = [NO_MODEL_NOTE]
        if tool_results:
            parts.append(self._render_tool_results(tool_results, request))
        quoted = self._quote_passages(request, question, min_overlap=2 if tool_results else 1)
        if quoted:
            parts.append(quoted)
        elif not tool_results:
            parts.append(request.offline.fallback or NOTHING_FOUND)
        content = "\n\n".join(parts)
        prompt_tokens = sum(estimate_tokens(m.content) for m in messages)
        return ModelReply(content=content, usage=Usage(prompt_tokens, estimate_tokens(content)), model=self.name)

    def _dialogue_reply(self, request: ModelRequest, step: DialogueStep) -> ModelReply:
        state = dict(step.state) if step.state is not None else None
        known = {t.name for t in request.tools}
        calls = tuple(ToolCall(id=f"call_{uuid.uuid4().hex[:16]}", name=c.tool, arguments=json.dumps(c.arguments))
                      for c in step.calls if c.tool in known)
        if calls:
            return ModelReply(content="", tool_calls=calls, finish_reason="tool_calls", model=self.name, dialogue_state=state)
        content = step.reply or request.offline.fallback or NOTHING_FOUND
        prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        return ModelReply(content=content, usage=Usage(prompt_tokens, estimate_tokens(content)), model=self.name,
                          dialogue_state=state)

    def _rule_calls(self, request: ModelRequest, question: str) -> tuple[ToolCall, ...]:
        if request.offline.rules is None or not question:
            return ()
        read_only = {t.name for t in request.tools if not t.writes}
        calls = []
        for rule in request.offline.rules(question):
            if rule.tool in read_only:  # ids unique across turns: the console pairs each call with its own result
                calls.append(ToolCall(id=f"call_{uuid.uuid4().hex[:16]}", name=rule.tool, arguments=json.dumps(rule.arguments)))
        return tuple(calls)

    @staticmethod
    def _render_tool_results(results: list[Message], request: ModelRequest) -> str:
        blocks = []
        for message in results:
            renderer = request.offline.renderers.get(message.name or "")
            if renderer is not None:  # the app knows how to show this tool's output to a person
                blocks.append(renderer(message.content))
                continue
            try:
                body = render_value(json.loads(message.content))
            except (json.JSONDecodeError, TypeError):
                body = message.content
            blocks.append(f"Result of {message.name or 'a tool'}:\n{body}")
        return "\n\n".join(blocks)

    @staticmethod
    def _quote_passages(request: ModelRequest, question: str, min_overlap: int = 1) -> str:
        """Quote the best-matching sentences. After a lookup the tool's result is the answer, so
        passages are quoted only when they share at least ``min_overlap`` words with the question."""
        wanted = {w for w in content_words(question) if not any(c.isdigit() for c in w)} or content_words(question)
        if not wanted or not request.passages:
            return ""
        scored: list[tuple[float, int, int, str]] = []
        for number, passage in enumerate(request.passages, start=1):
            for position, span in enumerate(split_sentences(passage.text)):
                sentence = " ".join(span.text.split())
                overlap = len(wanted & content_words(sentence))
                if overlap >= min_overlap and len(sentence) > 15:
                    # more shared words first, then the better-ranked passage, then document order
                    scored.append((overlap / (1 + len(wanted)), -number, -position, sentence))
        if not scored:
            return ""
        ranked = sorted(scored, reverse=True)
        # keep the sentences that match nearly as well as the best one, in document order
        best = [item for item in ranked if item[0] >= 0.6 * ranked[0][0]][:MAX_SENTENCES]
        best.sort(key=lambda item: (-item[1], -item[2]))
        lines = [f"- {sentence} [{-neg_number}]" for _, neg_number, _, sentence in best]
        return "From the knowledge base:\n" + "\n".join(lines)
