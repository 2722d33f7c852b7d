"""A JSON-constrained ReAct protocol for endpoints whose native tool calling is broken.

Self-hosted DeepSeek behind vLLM or SGLang sometimes returns tool calls as plain text (a missing
or wrong tool-call parser). Then we describe the tools in the system prompt and ask for exactly
one JSON object per turn: ``{"tool": NAME, "arguments": {...}}`` or ``{"answer": TEXT}``.
This module only renders and parses; ``openai_compat`` decides when to use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from moesaic.tools.spec import ToolSpec
from moesaic.types import Message, ToolCall

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)


def react_instructions(tools: Sequence[ToolSpec]) -> str:
    described = "\n".join(
        f"- {t.name}: {t.description}\n  arguments (JSON schema): {json.dumps(t.parameters, separators=(',', ':'))}" for t in tools
    )
    return (
        "You can use these tools:\n"
        f"{described}\n\n"
        "Reply with exactly one JSON object and nothing else. To use a tool: "
        '{"tool": "<name>", "arguments": {...}}. To answer the user: {"answer": "<text>"}. '
        "Tool results come back to you in a message that starts with 'Observation'."
    )


def to_react_messages(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[Message]:
    """Rewrite a tool-using conversation for a model that only sees plain text."""
    out: list[Message] = []
    instructions = react_instructions(tools)
    if messages and messages[0].role == "system":
        out.append(Message("system", messages[0].content + "\n\n" + instructions))
        rest = messages[1:]
    else:
        out.append(Message("system", instructions))
        rest = messages
    for message in rest:
        if message.role == "assistant" and message.tool_calls:
            call = message.tool_calls[0]
            arguments = json.loads(call.arguments or "{}") if call.arguments.strip().startswith("{") else {}
            out.append(Message("assistant", json.dumps({"tool": call.name, "arguments": arguments})))
        elif message.role == "tool":
            out.append(Message("user", f"Observation from {message.name or 'the tool'}: {message.content}"))
        elif message.role == "system":
            out.append(Message("user", message.content))
        else:
            out.append(Message(message.role, message.content))
    return out


def parse_react_reply(text: str, tool_names: set[str], call_id: str) -> tuple[str, tuple[ToolCall, ...]]:
    """(answer text, tool calls) from the model's reply; text that is not our JSON is the answer."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return text, ()
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError:
        return text, ()
    if not isinstance(data, dict):
        return text, ()
    if isinstance(data.get("tool"), str) and data["tool"] in tool_names:
        arguments = data.get("arguments") if isinstance(data.get("arguments"), dict) else {}
        return "", (ToolCall(call_id, data["tool"], json.dumps(arguments)),)
    if isinstance(data.get("answer"), str):
        return data["answer"], ()
    return text, ()
