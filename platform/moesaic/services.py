"""``Platform``: the long-lived services one process needs, built once from the settings.

The API, the CLI and the tests all build the platform here, so they share one wiring: migrations
(the core's and every app's), one ``AppContext`` per app, app ``setup`` (every process) and ``warmup``
(only processes that serve: the API before it is ready, the worker). ``open_app_context`` is the public
road for code outside the core (an app's evaluation) that needs a whole platform for one app.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect

from moesaic.agent import Agent
from moesaic.answers import AnswerCache, ResolvedPolicy
from moesaic.apps import AppContext, AppManifest, AppRegistry, ToolContext, load_apps
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.errors import ConfigError, UserError
from moesaic.jobs import CORE_APP, JobQueue
from moesaic.llm import ChatModel, ModelRequest, create_chat_model
from moesaic.access import create_api_key, ensure_tenant
from moesaic.memory import ConversationStore
from moesaic.memory.turns import ChatRequests, Deferred, TurnLocks
from moesaic.metrics import Metrics
from moesaic.models import ModelRegistry
from moesaic.types import Message

log = logging.getLogger(__name__)
RETENTION_INTERVAL_S = 3600  # how often a worker erases what the retention policies say is too old


def complete_text(model: ChatModel, prompt: str) -> str:
    """One plain completion from a chat model (for helpers such as the reranker)."""
    return model.generate(ModelRequest(messages=[Message(role="user", content=prompt)])).content


@dataclass
class Platform:
    settings: Settings
    db: Database
    store: ConversationStore
    apps: AppRegistry
    model: ChatModel
    knowledge: Any  # moesaic.retrieval.KnowledgeService
    metrics: Metrics
    jobs: JobQueue
    models: ModelRegistry
    contexts: dict[str, AppContext] = field(default_factory=dict)
    app_status: dict[str, str] = field(default_factory=dict)  # name -> "set up" | "ready" | "error: ..."
    embedder_status: str = "not loaded"  # "not loaded" | "ready" | "error: ..."
    answers: AnswerCache | None = None  # the answer cache and pinned answers (moesaic.answers)
    _seeded: set[tuple[str, str]] = field(default_factory=set)
    turns: TurnLocks = field(init=False)  # one turn at a time per conversation
    chat_requests: ChatRequests = field(init=False)  # Idempotency-Key records of chat requests

    def __post_init__(self) -> None:
        ending = Deferred()  # turn ends that a database outage held back, made before the next chat request
        self.turns = TurnLocks(self.db, self.settings.turn_lock_seconds, deferred=ending)
        self.chat_requests = ChatRequests(self.db, self.settings.turn_lock_seconds, deferred=ending)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        model: ChatModel | None = None,
        apps: dict[str, AppManifest] | None = None,
        start_worker: bool = True,
        jobs: Any = None,
    ) -> "Platform":
        """Migrate, build the services, set every app up. A broken app fails here, naming itself."""
        from moesaic.retrieval import KnowledgeService
        from moesaic.retrieval.rerank import LLMReranker

        registry = AppRegistry(apps if apps is not None else load_apps())
        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        db.migrate(version_locations=registry.migration_folders())
        check_app_tables(db, registry)
        default_tenant = ensure_tenant(db)
        if settings.bootstrap_api_key:
            create_api_key(db, name="bootstrap", role="admin", plaintext=settings.bootstrap_api_key)
        model = model or create_chat_model(settings)
        reranker = LLMReranker(lambda prompt: complete_text(model, prompt)) if settings.rerank_with_model else None
        jobs = JobQueue.from_settings(db, settings)
        knowledge = KnowledgeService(db, settings, start_worker=False, reranker=reranker, jobs=jobs)
        models = ModelRegistry(db, {app.name: app.models for app in registry})
        platform = cls(settings, db, ConversationStore(db), registry, model, knowledge, Metrics(), jobs, models)
        from moesaic.retrieval.embeddings import DEFAULT_EMBEDDER

        platform.answers = AnswerCache(db, lambda: knowledge.embedder(DEFAULT_EMBEDDER))
        for app in registry:
            for name, factory in app.embedders.items():
                _register(app, knowledge.register_embedder, name, factory)
            for name, factory in app.rerankers.items():
                _register(app, knowledge.register_reranker, name, factory)
        for app in registry:
            context = platform.app_context(app.name)
            if app.setup is not None:
                app.setup(context)
            platform.app_status[app.name] = "set up"
            for kind, handler in app.jobs.items():
                jobs.register(f"{app.name}.{kind}", handler)
            jobs.app_contexts[app.name] = context  # what the app's job handlers get as ctx.app_context
            platform.ensure_app_knowledge(app, default_tenant)
        from moesaic.lifecycle import Lifecycle

        jobs.add_chore(RETENTION_INTERVAL_S, Lifecycle(platform).apply_retention)  # in whichever process runs a worker
        if start_worker and settings.ingest_worker:
            knowledge.start()  # a consumer in this process runs every registered job, ingestion included
        return platform

    def app_context(self, name: str) -> AppContext:
        """The app's one context in this process (built on first use)."""
        if name not in self.contexts:
            app = self.apps.get(name)
            self.contexts[name] = AppContext(
                app=name, settings=self.settings, db=self.db, model=self.model, knowledge=self.knowledge,
                metrics=self.metrics, jobs=self.jobs, models=self.models,
                agent_factory=lambda tenant_id, conversation_id, **kw: self.agent(app, tenant_id, conversation_id, **kw),
            )
        return self.contexts[name]

    @property
    def app_services(self) -> dict[str, dict[str, Any]]:
        """Each app's ``AppContext.services`` (read-only view by name)."""
        return {name: context.services for name, context in self.contexts.items()}

    def warm_up(self) -> None:
        """Load the embedders the knowledge bases use (so the first question does not wait for them), then
        run every app's ``warmup`` (heavy models); a failure is reported by /readyz, it does not stop the rest."""
        from moesaic.retrieval.embeddings import DEFAULT_EMBEDDER

        names = {DEFAULT_EMBEDDER} | {str(app.knowledge_base_settings["embedder"]) for app in self.apps
                                      if app.knowledge_base_settings.get("embedder")}
        try:
            for name in sorted(names):
                self.knowledge.embedder(name).embed_query("warm up")  # loads the model and runs it once
            self.embedder_status = "ready"
        except Exception as exc:  # reported by /readyz
            log.exception("embedder warm-up failed")
            self.embedder_status = f"error: {type(exc).__name__}: {exc}"
        for app in self.apps:
            if app.warmup is None:
                self.app_status[app.name] = "ready"
                continue
            try:
                app.warmup(self.app_context(app.name))
                self.app_status[app.name] = "ready"
            except Exception as exc:  # reported per app by /readyz
                log.exception("app %s: warmup failed", app.name)
                self.app_status[app.name] = f"error: {type(exc).__name__}: {exc}"

    def ensure_app_knowledge(self, app: AppManifest, tenant_id: str) -> None:
        """Configure the app's knowledge base and queue the app's own documents into it for this tenant,
        once per process."""
        if not app.knowledge_base or (app.name, tenant_id) in self._seeded:
            return
        if app.knowledge_base_settings:  # idempotent: an unchanged embedder re-indexes nothing
            self.knowledge.configure_knowledge_base(tenant_id, app.knowledge_base, **app.knowledge_base_settings)
        if app.knowledge_documents is None:
            self._seeded.add((app.name, tenant_id))
            return
        for filename, data in app.knowledge_documents(self.settings):
            self.knowledge.add_document(tenant_id, app.knowledge_base, filename, data, metadata={"source": f"app:{app.name}"})
        self._seeded.add((app.name, tenant_id))

    def knowledge_base_owner(self, kb: str) -> str | None:
        """The app that owns knowledge base ``kb``: the app whose manifest names it; None: tenant-wide.

        So ``default`` belongs to ``kb_assistant`` and ``customer_service`` to its app; a knowledge
        base no manifest names is shared by every key of the tenant.
        """
        return next((app.name for app in self.apps if app.knowledge_base == kb), None)

    def job_owner(self, job: Any) -> str | None:
        """The app whose data a job touches: its own app, or for the core's jobs (ingestion) the owner of
        the knowledge base it works on; None: tenant-wide."""
        if job.app != CORE_APP:
            return str(job.app)
        kb = (job.payload or {}).get("knowledge_base")
        return self.knowledge_base_owner(kb) if kb else None

    def agent(self, app: AppManifest, tenant_id: str, conversation_id: str, principal: Any = None, *,
              services: dict[str, Any] | None = None, max_steps: int | None = None) -> Agent:
        """The agent loop for one conversation, run for ``principal``. ``services`` stands in for the
        app's services for this agent only (nothing shared is modified)."""
        if not app.is_chat:
            chat = ", ".join(a.name for a in self.apps.chat_apps) or "none installed"
            raise UserError(f"app {app.name!r} has no chat; chat models: {chat}", field="model")
        self.ensure_app_knowledge(app, tenant_id)
        context = ToolContext(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            app=app.name,
            db=self.db,
            settings=self.settings,
            services=services if services is not None else self.app_context(app.name).services,
            principal=principal,
        )
        return Agent(
            app=app,
            model=self.model,
            store=self.store,
            retriever=self.knowledge,
            tool_context=context,
            max_steps=max_steps or self.settings.agent_max_steps,
            top_k=self.settings.retrieval_top_k,
            history_budget=self.settings.history_token_budget,
            metrics=self.metrics,
            redact_model_input=self.settings.redact_model_input,
            answer_cache=self.answers,
            answer_policy=ResolvedPolicy.of(app.answer_cache, self.settings),
        )

    def close(self) -> None:
        self.knowledge.stop()
        self.db.dispose()


def check_app_tables(db: Database, registry: AppRegistry) -> None:
    """Every table an app declares must exist after its migrations ran, with its tenant_id column."""
    declared = [(app.name, table_class.__table__.name) for app in registry for table_class in app.tables]
    if not declared:
        return
    inspector = inspect(db.engine)
    existing = set(inspector.get_table_names())
    for app_name, table in declared:
        if table not in existing:
            raise ConfigError(f"app {app_name!r}: table {table!r} is declared but its migrations did not create it")
        if "tenant_id" not in {column["name"] for column in inspector.get_columns(table)}:
            raise ConfigError(f"app {app_name!r}: table {table!r} has no tenant_id column in the database; "
                              "add it in a migration")


def _register(app: AppManifest, register: Any, name: str, factory: Any) -> None:
    try:
        register(name, factory)
    except ConfigError as exc:
        raise ConfigError(f"app {app.name!r}: {exc} (another app or the core has that name)") from exc


@contextmanager
def open_app_context(settings: Settings, app: AppManifest, *, model: ChatModel | None = None,
                     start_worker: bool = True) -> Iterator[AppContext]:
    """A whole platform running only ``app`` (set up, not warmed), closed on exit. For evaluations
    and scripts outside the core; the API and CLI build their platform themselves. The answer cache is off:
    an evaluation measures the model on every task, not answers kept from an earlier one."""
    settings = settings.model_copy(update={"answer_cache": False})
    platform = Platform.create(settings, model=model, apps={app.name: app}, start_worker=start_worker)
    try:
        yield platform.app_context(app.name)
    finally:
        platform.close()
