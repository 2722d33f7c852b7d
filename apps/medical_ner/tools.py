"""``extract_entities``: the offline extractor as a tool any chat app can list in its manifest.

The tool runs the trained model (no LLM call: a chat model calling a tool that calls an LLM gains
nothing) and answers JSON the model can read. It loads the classifier once per process, shared by
every app that lists the tool. Bad input goes back to the model as text (``ToolError``).
"""

from __future__ import annotations

import json
from typing import Any

from moesaic.apps import ToolContext
from moesaic.errors import ToolError, UserError
from moesaic.tools import tool

from apps.medical_ner.service import get_extractor

_PROCESS_SERVICES: dict[str, Any] = {}


@tool
def extract_entities(text: str, ctx: ToolContext, labels: list[str] | None = None) -> str:
    """Find medical problems (diseases, symptoms) and treatments (drugs, chemicals) in a clinical text,
    with character offsets and whether each is present, absent, possible, hypothetical, conditional or
    about someone else. Tests are not found by this tool.

    Args:
        text: The clinical text, up to 100,000 characters.
        labels: Only these labels: any of "problem", "treatment" (default: both).
    """
    try:
        result = get_extractor(_PROCESS_SERVICES).extract(text, labels=labels)
    except UserError as exc:
        raise ToolError(str(exc)) from None
    entities = [{k: v for k, v in e.as_dict().items() if k != "source"} for e in result.entities]
    return json.dumps({"entities": entities, "model_version": result.model_version})


TOOLS = (extract_entities,)
