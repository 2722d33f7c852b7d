"""``AppManifest``: everything the platform needs to know about one app, validated when it is built.

Every extension point is optional: chat (a system prompt, tools, knowledge), a router mounted at
``/v1/apps/<name>``, tables on the platform database with their Alembic migrations, job handlers,
CLI commands, evaluations, and ``setup``/``warmup`` hooks. This module checks shapes and names; it
mounts, migrates and runs nothing (``moesaic.services``, ``moesaic.api`` and ``moesaic.cli`` do).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from moesaic.answers.policy import AnswerCachePolicy
from moesaic.apps.evaluation import Evaluation
from moesaic.config import Settings
from moesaic.identity import IdentityPolicy
from moesaic.llm.offline import OfflineBehaviour
from moesaic.models import ShippedModel
from moesaic.tools.spec import ToolSpec

JOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class AppManifest(BaseModel):
    """One app. Built once at import of the app's manifest module and registered as an entry point."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    title: str
    description: str = ""
    version: str = "0.1.0"

    # -- chat (optional): without a system prompt the app is not a chat model --------------------
    # A string, or a function of the settings (a prompt that quotes a document the settings locate).
    system_prompt: str | Callable[[Settings], str] | None = None
    tools: tuple[ToolSpec, ...] = ()
    knowledge_base: str | None = None  # the app's knowledge base; the app owns it (the gate checks)
    confirm_writes: bool = True
    # The wording of the agent loop's refusals for tools that need the conversation's identity
    # (``@tool(requires_identity=True, owner=...)``, ``moesaic.identity``).
    identity: IdentityPolicy = Field(default_factory=IdentityPolicy)
    offline: OfflineBehaviour = Field(default_factory=OfflineBehaviour)
    # Documents that belong to the app (a policy, an FAQ): settings -> [(filename, bytes)]. They are
    # ingested into ``knowledge_base`` for each tenant that uses the app (a no-op when unchanged).
    knowledge_documents: Callable[..., list[tuple[str, bytes]]] | None = None
    # Settings of the app's knowledge base (moesaic.retrieval KnowledgeBaseConfig fields, e.g. its
    # ``embedder`` and ``reranker``), applied for each tenant before the app's documents are added.
    knowledge_base_settings: Mapping[str, Any] = Field(default_factory=dict)
    # A cheap gate on every user message, for any model, before retrieval and the model run:
    # (text, earlier messages, ToolContext) -> a polite refusal when the request is out of scope, else None.
    scope_check: Callable[..., str | None] | None = None
    # The answer cache for repeated first-turn questions (``moesaic.answers``): off, or another TTL or threshold
    # than the platform's settings.
    answer_cache: AnswerCachePolicy = Field(default_factory=AnswerCachePolicy)

    # -- other extension points ------------------------------------------------------------------
    router: Any = None  # a FastAPI APIRouter, mounted once at /v1/apps/<name>; every route is the app's
    tables: tuple[Any, ...] = ()  # mapped classes on moesaic.db.Base using moesaic.db.TenantScoped
    migrations: Path | None = None  # a folder of Alembic revisions (first: branch_labels=(name,))
    jobs: Mapping[str, Callable[[Any], Any]] = Field(default_factory=dict)  # name -> handler(JobContext)
    commands: Any = None  # a typer.Typer, mounted as `moesaic apps <name> ...`
    evals: tuple[Evaluation, ...] = ()
    # Retrievers the app brings: name -> factory of a moesaic.retrieval Embedder / Reranker, loaded on first
    # use; any knowledge base may name them (the default stays MiniLM with today's fusion).
    embedders: Mapping[str, Callable[[], Any]] = Field(default_factory=dict)
    rerankers: Mapping[str, Callable[[], Any]] = Field(default_factory=dict)
    models: tuple[ShippedModel, ...] = ()  # trained artefacts the app ships (versioned per tenant: moesaic.models)
    setup: Callable[[Any], None] | None = None  # (AppContext) -> None; cheap; every process using the app
    warmup: Callable[[Any], None] | None = None  # (AppContext) -> None; heavy (models): API, worker
    # (AppContext, Erasure) -> {table: rows removed}: remove the app's own rows of erased conversations or of a
    # data subject (email / customer id); a whole tenant's rows of ``tables`` the platform deletes itself
    erase: Callable[[Any, Any], Mapping[str, int]] | None = None
    # (AppContext, tenant_id) -> {name: [row, ...]}: the app's data of the tenant kept outside ``tables`` (tables
    # on a MetaData of its own, files), for the tenant's export (rows of ``tables`` the platform exports itself)
    export: Callable[[Any, str], Mapping[str, list[dict[str, Any]]]] | None = None

    @property
    def is_chat(self) -> bool:
        """True when the app answers chat completions (it is listed in ``/v1/models``)."""
        return self.system_prompt is not None

    def system_prompt_for(self, settings: Settings) -> str:
        if self.system_prompt is None:
            raise ValueError(f"app {self.name!r} has no chat part")
        return self.system_prompt if isinstance(self.system_prompt, str) else self.system_prompt(settings)

    def fingerprint(self, settings: Settings) -> str:
        """A hash of what shapes the app's answers (prompt, tools, version, knowledge base, the configured model):
        cached answers of the app are served only while it is unchanged."""
        parts = {
            "name": self.name, "version": self.version, "prompt": self.system_prompt_for(settings),
            "tools": [[t.name, t.description, t.parameters, t.writes] for t in self.tools],
            "knowledge_base": self.knowledge_base, "confirm_writes": self.confirm_writes,
            "model": [settings.llm_base_url, settings.llm_model],
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)

    def evaluation(self, name: str) -> Evaluation | None:
        return next((e for e in self.evals if e.name == name), None)

    def problems(self) -> list[str]:
        """What is wrong with this manifest, each naming the app and the part (empty when valid)."""
        return [f"app {self.name!r}: {problem}" for problem in _problems(self)]

    @model_validator(mode="after")
    def _valid(self) -> "AppManifest":
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self


def table_problems(tables: tuple[Any, ...]) -> list[str]:
    from moesaic.db import Base

    problems = []
    for table_class in tables:
        table = getattr(table_class, "__table__", None)
        label = getattr(table_class, "__name__", repr(table_class))
        if table is None:
            problems.append(f"{label} in tables is not a mapped class")
        elif table.metadata is not Base.metadata:
            problems.append(f"table {table.name!r} is not on moesaic.db.Base (app tables live in the platform database)")
        elif "tenant_id" not in table.c:
            problems.append(f"table {table.name!r} has no tenant_id column; add the moesaic.db.TenantScoped mixin")
    return problems


def _problems(app: AppManifest) -> list[str]:
    problems = table_problems(app.tables)
    if app.name == "platform":
        problems.append("the name 'platform' is reserved for the core's own jobs")
    if app.tables and app.migrations is None:
        problems.append("declares tables but no migrations folder (app tables evolve through Alembic)")
    if app.migrations is not None and not Path(app.migrations).is_dir():
        problems.append(f"migrations folder {app.migrations} does not exist")
    if app.router is not None and not hasattr(app.router, "routes"):
        problems.append(f"router must be a fastapi.APIRouter, got {type(app.router).__name__}")
    for job, handler in app.jobs.items():
        if not JOB_NAME.match(job):
            problems.append(f"job name {job!r} must match {JOB_NAME.pattern}")
        if not callable(handler):
            problems.append(f"job {job!r} handler is not callable")
    if app.commands is not None:
        import typer

        if not isinstance(app.commands, typer.Typer):
            problems.append(f"commands must be a typer.Typer, got {type(app.commands).__name__}")
    names = [e.name for e in app.evals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"evaluation names repeat: {', '.join(duplicates)}")
    model_names = [m.name for m in app.models]
    if len(set(model_names)) != len(model_names):
        problems.append(f"model names repeat: {', '.join(sorted({n for n in model_names if model_names.count(n) > 1}))}")
    if app.tools and not app.is_chat:
        problems.append("has tools but no system_prompt (tools are for chat apps)")
    return problems
