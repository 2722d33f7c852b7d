import json
from typing import Literal

import pytest

from moesaic.errors import ToolError
from moesaic.tools import run_tool_call, tool
from moesaic.types import ToolCall


@tool
def lookup_order(order_id: str, include_items: bool = False, ctx: object = None) -> dict:
    """Look up an order by its id.

    Args:
        order_id: The order id, such as '#W1234567'.
        include_items: Whether to list the items too.
    """
    if not order_id.startswith("#"):
        raise ToolError("Error: order id must start with '#'")
    return {"order_id": order_id, "items": [] if include_items else None, "ctx": ctx}


@tool(writes=True)
def set_status(order_id: str, status: Literal["pending", "cancelled"]) -> str:
    """Change an order's status."""
    return f"{order_id} -> {status}"


def test_schema_comes_from_signature_and_docstring() -> None:
    assert lookup_order.openai_schema() == {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its id.",
            "parameters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "order_id": {"type": "string", "description": "The order id, such as '#W1234567'."},
                    "include_items": {"type": "boolean", "default": False, "description": "Whether to list the items too."},
                },
                "required": ["order_id"],
            },
        },
    }
    assert set_status.writes and not lookup_order.writes
    assert set_status.parameters["properties"]["status"]["enum"] == ["pending", "cancelled"]


def test_invalid_arguments_go_back_to_the_model_as_text() -> None:
    result = run_tool_call(set_status, ToolCall("1", "set_status", json.dumps({"order_id": "#1", "status": "lost"})))
    assert result.error and "status" in result.error
    assert result.output.startswith("Error:")
    garbage = run_tool_call(lookup_order, ToolCall("2", "lookup_order", "{not json"))
    assert "not valid JSON" in garbage.output


def test_tool_error_and_context_injection() -> None:
    failed = run_tool_call(lookup_order, ToolCall("1", "lookup_order", '{"order_id": "W1"}'))
    assert failed.error == "Error: order id must start with '#'"
    ok = run_tool_call(lookup_order, ToolCall("2", "lookup_order", '{"order_id": "#W1"}'), {"ctx": "the-context"})
    assert ok.error is None and json.loads(ok.output)["ctx"] == "the-context"
    unknown = run_tool_call(None, ToolCall("3", "nope", "{}"))
    assert unknown.error == "unknown tool 'nope'"


def test_model_cannot_supply_context_parameters() -> None:
    result = run_tool_call(lookup_order, ToolCall("1", "lookup_order", '{"order_id": "#W1", "ctx": "forged"}'), {"ctx": "real"})
    assert result.error and "ctx" in result.error


def test_tool_without_docstring_is_rejected() -> None:
    with pytest.raises(TypeError, match="docstring"):
        tool(lambda x: x)
