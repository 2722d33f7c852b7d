"""Apps: one ``AppManifest`` per vertical, found through the ``moesaic.apps`` entry-point group.

Built-in apps take the same road as third-party ones (they are registered in pyproject.toml).
This module does not run conversations (``agent.loop`` does) or serve HTTP (``api`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from moesaic.errors import ConfigError, NotFound
from moesaic.tools.spec import ToolSpec

if TYPE_CHECKING:
    from moesaic.config import Settings
    from moesaic.db import Database

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "moesaic.apps"


@dataclass
class ToolContext:
    """What a tool may reach besides its arguments: passed as the ``ctx`` parameter."""

    tenant_id: str
    conversation_id: str | None
    app: str
    db: "Database"
    settings: "Settings"
    services: dict[str, Any] = field(default_factory=dict)
    handoff_summary: str | None = None

    def request_handoff(self, summary: str) -> None:
        """Ask the agent loop to put the conversation in the ``handed_off`` state after this step."""
        self.handoff_summary = summary or "The customer asked for a person."


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


class AppManifest(BaseModel):
    """Everything the platform needs to know about one app."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    title: str
    description: str = ""
    version: str = "0.1.0"
    system_prompt: str
    tools: tuple[ToolSpec, ...] = ()
    knowledge_base: str | None = "default"
    confirm_writes: bool = True
    # Called once per process when the API starts: create the app's tables, seed demo data.
    setup: Callable[..., dict[str, Any]] | None = None  # (Database, Settings) -> services
    offline: OfflineBehaviour = Field(default_factory=OfflineBehaviour)
    # Documents that belong to the app (a policy, an FAQ): settings -> [(filename, bytes)]. They are
    # ingested into ``knowledge_base`` for each tenant that uses the app (a no-op when unchanged).
    knowledge_documents: Callable[..., list[tuple[str, bytes]]] | None = None
    # A cheap gate on every user message, for any model, before retrieval and the model run:
    # (text, earlier messages, ToolContext) -> a polite refusal when the request is out of scope, else None.
    scope_check: Callable[..., str | None] | None = None
    # Extra FastAPI router mounted at /v1/apps/{name}/ (the app's own endpoints).
    api_router: Any = None
    # Job handlers by kind (a moesaic.jobs.JobContext -> JSON result); queued as "<app>.<kind>".
    jobs: Mapping[str, Callable[..., Any]] = Field(default_factory=dict)

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


def load_apps() -> dict[str, AppManifest]:
    """Load every registered app; a broken entry point fails loudly with its name."""
    apps: dict[str, AppManifest] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            manifest = ep.load()
        except Exception as exc:
            raise ConfigError(f"app entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        if not isinstance(manifest, AppManifest):
            raise ConfigError(f"app entry point {ep.name!r} must be an AppManifest, got {type(manifest).__name__}")
        if manifest.name != ep.name:
            raise ConfigError(f"app entry point {ep.name!r} names its manifest {manifest.name!r}")
        apps[manifest.name] = manifest
    return apps


class AppRegistry:
    def __init__(self, apps: dict[str, AppManifest]) -> None:
        self._apps = dict(sorted(apps.items()))

    def get(self, name: str) -> AppManifest:
        try:
            return self._apps[name]
        except KeyError:
            valid = ", ".join(self._apps) or "none installed"
            raise NotFound(f"unknown app {name!r}; valid apps: {valid}", field="model") from None

    def register(self, app: AppManifest) -> None:
        """Add an app at run time (tests, notebooks); entry points are the normal road."""
        self._apps[app.name] = app

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._apps.values())

    def __contains__(self, name: object) -> bool:
        return name in self._apps
