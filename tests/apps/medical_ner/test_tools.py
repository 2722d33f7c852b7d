"""The ``extract_entities`` tool: its schema is what a chat model sees (snapshot), and it runs.

To accept a deliberate schema change: ``MOESAIC_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/apps/medical_ner/test_tools.py``
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from apps.medical_ner import tools
from apps.medical_ner.tagger import Tagger
from moesaic.apps import ToolContext
from moesaic.errors import ToolError

SNAPSHOT = Path(__file__).parent / "tool_schemas.json"


def test_tool_schema_matches_the_snapshot() -> None:
    current = [{**spec.openai_schema(), "writes": spec.writes} for spec in tools.TOOLS]
    if os.environ.get("MOESAIC_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())
    assert current[0]["function"]["parameters"]["required"] == ["text"] and current[0]["writes"] is False


def test_tool_finds_entities_and_returns_bad_input_to_the_model(tagger: Tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "_PROCESS_SERVICES", {"tagger": tagger})
    ctx = ToolContext(tenant_id="t", conversation_id=None, app="some_chat_app", db=None, settings=None)  # type: ignore[arg-type]
    answer = json.loads(tools.extract_entities.function(text="She denies chest pain; takes aspirin.", ctx=ctx))
    assert {(e["text"], e["label"], e["assertion"]) for e in answer["entities"]} == {
        ("chest pain", "problem", "absent"), ("aspirin", "treatment", "present")}
    with pytest.raises(ToolError, match="empty"):
        tools.extract_entities.function(text=" ", ctx=ctx)
