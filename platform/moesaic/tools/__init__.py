"""Typed tools the model can call."""

from moesaic.tools.execute import ToolResult, run_tool_call
from moesaic.tools.spec import ToolSpec, tool

__all__ = ["ToolResult", "ToolSpec", "run_tool_call", "tool"]
