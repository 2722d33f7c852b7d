"""How an app behaves on the offline ``extractive`` model: rules that derive tool calls, a fallback, renderers,
and optionally a dialogue that keeps its state in the conversation.

These are model-layer types (only the extractive model reads them); apps build them and hand them over
in their manifest (``moesaic.apps`` re-exports both names). Nothing here runs a tool or a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIRMATION_REQUIRED = "CONFIRMATION REQUIRED"  # how the agent loop's output for a held write begins


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
    # A dialogue manager: (DialogueTurn) -> DialogueStep, or None for the rules-and-sources answer above.
    # Its state lives in the conversation (the agent loop stores it), never in process memory.
    dialogue: "Callable[[DialogueTurn], DialogueStep | None] | None" = None


@dataclass(frozen=True)
class ToolOutcome:
    """One tool call of the current turn and what it returned (``held``: a write waiting for a "yes")."""

    name: str
    arguments: dict[str, Any]
    output: str

    @property
    def error(self) -> str | None:
        return self.output[len("Error: "):] if self.output.startswith("Error: ") else None

    @property
    def held(self) -> bool:
        return self.output.startswith(CONFIRMATION_REQUIRED)


@dataclass(frozen=True)
class DialogueTurn:
    """What an offline dialogue sees at one step of a turn: the customer's message, the state it kept, the
    conversation's authenticated subject, the tool results of this turn so far and its previous answer."""

    text: str
    state: Mapping[str, Any]
    identity: str | None
    results: tuple[ToolOutcome, ...] = ()
    last_reply: str = ""


@dataclass(frozen=True)
class DialogueStep:
    """The dialogue's move: tool calls to run (writes included: the agent loop still wants a "yes"), or a
    reply; ``state`` replaces the kept state (None: unchanged, {}: cleared)."""

    calls: tuple[RuleCall, ...] = ()
    reply: str | None = None
    state: Mapping[str, Any] | None = None
