"""DeepSeek tool calling: render OpenAI `tools` into the DeepSeek system prompt, and parse the model's
`<｜tool▁calls▁begin｜>...` output back into OpenAI `tool_calls`. Both the V3/R1 form
(`function<｜tool▁sep｜>NAME\\n```json\\nARGS\\n```) and the V3.1 form (`NAME<｜tool▁sep｜>ARGS`) parse."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
CALLS_END = "<｜tool▁calls▁end｜>"
CALL_BEGIN = "<｜tool▁call▁begin｜>"
CALL_END = "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"

_CALL = re.compile(re.escape(CALL_BEGIN) + r"(.*?)" + re.escape(SEP) + r"(.*?)" + re.escape(CALL_END), re.S)
_FENCED = re.compile(r"^\s*(\S+)\s*\n```(?:json)?\s*\n(.*?)\n?```\s*$", re.S)


def render_tools_system_prompt(tools: list[dict[str, Any]]) -> str:
    lines = ["## Tools", "You have access to the following tools:", ""]
    for tool in tools:
        fn = tool.get("function", tool)
        lines += [
            f"### {fn['name']}",
            f"Description: {fn.get('description', '')}",
            "",
            f"Parameters: {json.dumps(fn.get('parameters', {}), ensure_ascii=False)}",
            "",
        ]
    lines.append(
        "IMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
        f"{CALLS_BEGIN}{CALL_BEGIN}tool_call_name{SEP}tool_call_arguments{CALL_END}"
        f"{{additional_tool_calls}}{CALLS_END}\n\n"
        "Where:\n- `tool_call_name` must be an exact match to one of the available tools\n"
        "- `tool_call_arguments` must be valid JSON that aligns with the tool's JSON schema"
    )
    return "\n".join(lines)


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split model output into (content, OpenAI tool_calls). Content is the text before the calls."""
    start = text.find(CALLS_BEGIN)
    if start < 0:
        return text, []
    content = text[:start]
    calls: list[dict[str, Any]] = []
    for head, body in _CALL.findall(text[start:]):
        name, arguments = head.strip(), body.strip()
        fenced = _FENCED.match(body)
        if head.strip() == "function" and fenced:
            name, arguments = fenced.group(1), fenced.group(2).strip()
        elif head.strip() == "function":
            first, _, rest = body.partition("\n")
            name, arguments = first.strip(), rest.strip().strip("`").removeprefix("json").strip()
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return content, calls
