"""What the platform hands an app at run time: ``AppContext`` (setup, routes, jobs, commands, evals)
and ``ToolContext`` (one tool call inside one conversation).

Plain dataclasses: they hold references to the platform's services, they build none. The platform
(``moesaic.services``) fills them in; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moesaic.errors import ConfigError

if TYPE_CHECKING:
    from moesaic.config import Settings
    from moesaic.db import Database
    from moesaic.identity import Identity
    from moesaic.llm import ChatModel
    from moesaic.metrics import Metrics


@dataclass
class AppContext:
    """One app's view of the platform in this process.

    ``services`` is the app's own scratch space: ``setup`` puts what its tools, routes and jobs share
    there (a store, a loaded model); tools see the same dict as ``ToolContext.services``.
    ``jobs`` is the job queue (``None`` in processes that have none); ``models`` the model registry
    (``models.active(tenant_id, app, name).version`` goes into every result an app stores).
    """

    app: str
    settings: "Settings"
    db: "Database"
    model: "ChatModel"
    knowledge: Any  # moesaic.retrieval.KnowledgeService
    metrics: "Metrics"
    jobs: Any = None  # moesaic.jobs.JobQueue
    models: Any = None  # moesaic.models.ModelRegistry: which version of each app model a tenant uses
    services: dict[str, Any] = field(default_factory=dict)
    agent_factory: Callable[..., Any] | None = field(default=None, repr=False)

    def agent(self, tenant_id: str, conversation_id: str, *, services: dict[str, Any] | None = None,
              max_steps: int | None = None) -> Any:
        """An agent loop (``moesaic.agent.Agent``) over this app for one conversation.

        ``services`` replaces the app's services for this agent only (an evaluation gives each task its
        own store); the platform's shared services are never modified.
        """
        if self.agent_factory is None:
            raise ConfigError(f"app {self.app!r}: this context was built without an agent loop")
        return self.agent_factory(tenant_id, conversation_id, services=services, max_steps=max_steps)


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
    principal: Any = None  # the moesaic.access.Principal the conversation runs for (None: the platform)
    # The conversation's authenticated subject (moesaic.identity); the agent loop loads and stores it.
    identity: "Identity | None" = None

    def authenticate(self, subject: str, method: str) -> None:
        """A tool found the person: ``subject`` becomes the conversation's identity (the agent loop stores
        it; a conversation already authenticated as someone else keeps its subject and the call is refused)."""
        from moesaic.identity import Identity

        if self.identity is None or self.identity.subject != subject:
            self.identity = Identity.now(subject, method)

    def request_handoff(self, summary: str) -> None:
        """Ask the agent loop to put the conversation in the ``handed_off`` state after this step."""
        self.handoff_summary = summary or "The customer asked for a person."


@dataclass(frozen=True)
class Erasure:
    """What an app's ``erase`` hook must remove from its own data, inside ``tenant_id``: the rows that belong
    to these conversations (deleted by the platform), or to a data subject named by ``email`` or
    ``customer_id`` (each may be None). The hook returns how many rows it removed per table (for the audit
    row). When a whole tenant is erased the platform deletes every row of the app's declared ``tables``
    itself, then calls the hook with only ``tenant_id`` set, for data kept elsewhere."""

    tenant_id: str
    conversation_ids: tuple[str, ...] = ()
    email: str | None = None
    customer_id: str | None = None

    @property
    def whole_tenant(self) -> bool:
        return not self.conversation_ids and self.email is None and self.customer_id is None

