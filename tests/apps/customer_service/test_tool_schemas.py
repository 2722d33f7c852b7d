"""The tools' names and JSON schemas are what the model sees: a change must be deliberate.

To accept a deliberate change, regenerate the snapshot:
``MOESAIC_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/apps/customer_service/test_tool_schemas.py``
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from apps.customer_service.manifest import APP
from apps.customer_service.tools import TOOLS

SNAPSHOT = Path(__file__).parent / "tool_schemas.json"
WRITE_TOOLS = {
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
}


def _current() -> list[dict[str, Any]]:
    return [{**spec.openai_schema(), "writes": spec.writes} for spec in TOOLS]


def test_tool_schemas_match_the_snapshot() -> None:
    current = _current()
    if os.environ.get("MOESAIC_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_the_sixteen_tau2_tools_with_their_arguments() -> None:
    names = [spec.name for spec in TOOLS]
    assert len(names) == 16 == len(set(names))
    assert {spec.name for spec in TOOLS if spec.writes} == WRITE_TOOLS
    items = next(s for s in TOOLS if s.name == "modify_pending_order_items").parameters
    assert items["required"] == ["order_id", "item_ids", "new_item_ids", "payment_method_id"]
    assert items["properties"]["item_ids"]["type"] == "array"
    assert all("ctx" not in spec.parameters["properties"] for spec in TOOLS)
    assert all(spec.description and spec.parameters.get("additionalProperties") is False for spec in TOOLS)
    assert APP.tools == TOOLS and APP.knowledge_base == "customer_service"
