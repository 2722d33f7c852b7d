"""``Platform``: the long-lived services one process needs, built once from the settings.

The API, the CLI and the tests all build the platform here, so they share one wiring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from moesaic.agent import Agent
from moesaic.apps import AppManifest, AppRegistry, ToolContext, load_apps
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.jobs import JobQueue
from moesaic.llm import ChatModel, ModelRequest, create_chat_model
from moesaic.memory import ConversationStore, create_api_key, ensure_tenant
from moesaic.metrics import Metrics
from moesaic.types import Message

log = logging.getLogger(__name__)


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
    app_services: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seeded: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        model: ChatModel | None = None,
        apps: dict[str, AppManifest] | None = None,
        start_worker: bool = True,
    ) -> "Platform":
        from moesaic.retrieval import KnowledgeService
        from moesaic.retrieval.rerank import LLMReranker

        settings.home.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        db.migrate()
        default_tenant = ensure_tenant(db)
        if settings.bootstrap_api_key:
            create_api_key(db, name="bootstrap", plaintext=settings.bootstrap_api_key)
        registry = AppRegistry(apps if apps is not None else load_apps())
        model = model or create_chat_model(settings)
        reranker = LLMReranker(lambda prompt: complete_text(model, prompt)) if settings.rerank_with_model else None
        jobs = JobQueue.from_settings(db, settings)
        knowledge = KnowledgeService(db, settings, start_worker=False, reranker=reranker, jobs=jobs)
        platform = cls(settings, db, ConversationStore(db), registry, model, knowledge, Metrics(), jobs)
        for app in registry:
            platform.app_services[app.name] = app.setup(db, settings) if app.setup else {}
            for kind, handler in app.jobs.items():
                jobs.register(f"{app.name}.{kind}", handler)
            jobs.app_contexts[app.name] = platform.app_services[app.name]
            platform.ensure_app_knowledge(app, default_tenant)
        if start_worker and settings.ingest_worker:
            knowledge.start()  # a consumer in this process runs every registered job, ingestion included
        return platform

    def ensure_app_knowledge(self, app: AppManifest, tenant_id: str) -> None:
        """Queue the app's own documents into its knowledge base for this tenant, once per process."""
        if app.knowledge_documents is None or not app.knowledge_base or (app.name, tenant_id) in self._seeded:
            return
        for filename, data in app.knowledge_documents(self.settings):
            self.knowledge.add_document(tenant_id, app.knowledge_base, filename, data, metadata={"source": f"app:{app.name}"})
        self._seeded.add((app.name, tenant_id))

    def agent(self, app: AppManifest, tenant_id: str, conversation_id: str) -> Agent:
        self.ensure_app_knowledge(app, tenant_id)
        context = ToolContext(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            app=app.name,
            db=self.db,
            settings=self.settings,
            services=self.app_services.get(app.name, {}),
        )
        return Agent(
            app=app,
            model=self.model,
            store=self.store,
            retriever=self.knowledge,
            tool_context=context,
            max_steps=self.settings.agent_max_steps,
            top_k=self.settings.retrieval_top_k,
            history_budget=self.settings.history_token_budget,
            metrics=self.metrics,
            redact_model_input=self.settings.redact_model_input,
        )

    def close(self) -> None:
        self.knowledge.stop()
        self.db.dispose()
