"""How an app behaves on the offline ``extractive`` model: rules that derive tool calls, a fallback, renderers.

These are model-layer types (only the extractive model reads them); apps build them and hand them over
in their manifest (``moesaic.apps`` re-exports both names). Nothing here runs a tool or a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RuleCall:
    """A tool call that an offline rule derived from the user's message."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class OfflineBehaviour:
    """How an app behaves on the offline ``extractive`` model (no language model at all).

    ``rules`` turn the user's text into read-only tool calls worth running; ``fallback`` is the
    answer when neither rules nor sources help (default: "not found"); ``renderers`` show a tool's
    output to a person (tool name -> output text -> Markdown), instead of a key dump.
    """

    rules: Callable[[str], list[RuleCall]] | None = None
    fallback: str | None = None
    renderers: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
