import json

from moesaic.apps import OfflineBehaviour, RuleCall
from moesaic.llm.base import ModelRequest
from moesaic.llm.extractive import NO_MODEL_NOTE, NOTHING_FOUND, ExtractiveModel
from moesaic.tools import tool
from moesaic.types import Chunk, Message, ToolCall

PASSAGES = [
    Chunk("c1", "d1", "Gift cards cannot be returned. Shipping is free over 50 dollars.", 0, 60, title="policy.txt"),
    Chunk("c2", "d2", "Items can be returned within 30 days of delivery for a full refund.", 0, 70, title="returns.txt"),
]


@tool
def get_order(order_id: str) -> dict:
    """Get an order."""
    return {"order_id": order_id}


@tool(writes=True)
def cancel_order(order_id: str) -> str:
    """Cancel an order."""
    return "cancelled"


def test_quotes_the_matching_sentences_with_citations() -> None:
    reply = ExtractiveModel().generate(ModelRequest([Message("user", "How many days do I have to return items?")], passages=PASSAGES))
    assert reply.content.startswith(NO_MODEL_NOTE)
    assert "returned within 30 days of delivery for a full refund. [2]" in reply.content
    assert "Shipping is free" not in reply.content


def test_says_when_nothing_matches() -> None:
    reply = ExtractiveModel().generate(ModelRequest([Message("user", "What colour is the moon?")], passages=PASSAGES))
    assert NOTHING_FOUND in reply.content and "[1]" not in reply.content


def test_runs_read_only_rule_calls_then_renders_their_results() -> None:
    rules = lambda text: [RuleCall("get_order", {"order_id": "#W1"}), RuleCall("cancel_order", {"order_id": "#W1"})]  # noqa: E731
    first = ExtractiveModel().generate(ModelRequest([Message("user", "where is #W1")], tools=[get_order, cancel_order], offline=OfflineBehaviour(rules=rules)))
    assert [c.name for c in first.tool_calls] == ["get_order"]
    history = [
        Message("user", "where is #W1"),
        Message("assistant", "", tool_calls=(ToolCall("rule_0", "get_order", '{"order_id": "#W1"}'),)),
        Message("tool", json.dumps({"order_id": "#W1", "status": "pending"}), tool_call_id="rule_0", name="get_order"),
    ]
    second = ExtractiveModel().generate(ModelRequest(history, tools=[get_order], offline=OfflineBehaviour(rules=rules)))
    assert not second.tool_calls
    assert "- status: pending" in second.content


def test_rule_calls_get_ids_unique_across_turns() -> None:
    rules = lambda text: [RuleCall("get_order", {"order_id": "#W1"}), RuleCall("get_order", {"order_id": "#W2"})]  # noqa: E731
    request = ModelRequest([Message("user", "where are #W1 and #W2")], tools=[get_order], offline=OfflineBehaviour(rules=rules))
    ids = [c.id for _ in range(3) for c in ExtractiveModel().generate(request).tool_calls]
    assert len(ids) == 6 and len(set(ids)) == 6, ids
