"""Run one model-requested tool call: validate, call, time, and turn failures into text.

A ``ToolError`` (or a validation failure) goes back to the model as the tool's output; any other
exception is reported as a tool failure too but logged with its traceback, since it is our bug.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from moesaic.errors import ToolError
from moesaic.tools.spec import ToolSpec
from moesaic.types import ToolCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    call: ToolCall
    output: str
    error: str | None
    duration_ms: float
    value: Any = None


def render_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def run_tool_call(spec: ToolSpec | None, call: ToolCall, context: dict[str, Any] | None = None) -> ToolResult:
    started = time.perf_counter()
    error: str | None
    if spec is None:
        error = f"unknown tool {call.name!r}"
        return ToolResult(call, f"Error: {error}", error, 0.0)
    try:
        arguments = spec.parse_arguments(call.arguments)
        for param in spec.context_params:
            arguments[param] = (context or {}).get(param)
        value = spec.function(**arguments)
        output, error = render_output(value), None
    except ToolError as exc:
        value, output, error = None, f"Error: {exc}", str(exc)
    except Exception as exc:  # a bug in a tool must not take the conversation down
        log.exception("tool %s failed", call.name)
        value, output, error = None, f"Error: {type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"
    return ToolResult(call, output, error, (time.perf_counter() - started) * 1000, value)
