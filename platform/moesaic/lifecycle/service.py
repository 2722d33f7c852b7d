"""``Lifecycle``: erasure, export and retention over one platform (see the package docstring)."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from moesaic.access.audit import record
from moesaic.access.tables import Account, ApiKey, AuditRecord
from moesaic.answers.tables import CachedAnswer, PinnedAnswer
from moesaic.apps import Erasure
from moesaic.db import utcnow
from moesaic.errors import UserError
from moesaic.jobs import CORE_APP
from moesaic.jobs.tables import FINAL_STATES, JobRecord
from moesaic.json_numbers import NotBoolean
from moesaic.lifecycle.tables import ALL_APPS, RetentionPolicy
from moesaic.memory.tables import ChatRequestRecord, Conversation, MessageRecord, Tenant, ToolCallRecord
from moesaic.models.tables import ModelVersionRecord as ModelVersion
from moesaic.retrieval.tables import ChunkRecord, DocumentBlobRecord, DocumentRecord, KnowledgeBaseRecord

log = logging.getLogger(__name__)


class RetentionIn(BaseModel):
    """A retention policy: conversations (not updated for) and finished jobs older than this many days are
    erased. ``app`` None: every app of the tenant (an app's own policy wins over it); a days field None: kept."""

    app: str | None = Field(default=None, max_length=100)
    conversation_days: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=36500)  # true is no day count
    job_days: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=36500)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _row(row: Any) -> dict[str, Any]:
    return {column.key: _plain(getattr(row, column.key)) for column in row.__mapper__.column_attrs}


class Lifecycle:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.db = platform.db

    # -- erase ----------------------------------------------------------------------------------
    def erase_conversations(self, tenant_id: str, conversation_ids: list[str], principal: Any, *,
                            reason: str = "erase conversation") -> dict[str, int]:
        """Remove conversations with their messages, tool calls and idempotency records, and the apps' rows
        of them (their ``erase`` hooks); one audit row."""
        if not conversation_ids:
            return {}
        ids, counts = self._erase_conversations(tenant_id, conversation_ids)
        record(self.db, principal, reason, tenant_id=tenant_id, target=",".join(ids)[:500], detail={"removed": counts})
        return counts

    def _erase_conversations(self, tenant_id: str, conversation_ids: list[str]) -> tuple[list[str], dict[str, int]]:
        """The work of ``erase_conversations`` without its audit row: (the ids found, the counts)."""
        removed: Counter[str] = Counter()
        with self.db.session() as session:
            apps = dict(session.execute(select(Conversation.id, Conversation.app).where(
                Conversation.tenant_id == tenant_id, Conversation.id.in_(conversation_ids))).all())
            ids = list(apps)
            removed["tool_calls"] += self._delete(session, ToolCallRecord, ToolCallRecord.conversation_id.in_(ids))
            removed["messages"] += self._delete(session, MessageRecord, MessageRecord.conversation_id.in_(ids))
            removed["chat_requests"] += self._delete(session, ChatRequestRecord, ChatRequestRecord.tenant_id == tenant_id,
                                                     ChatRequestRecord.conversation_id.in_(ids))
            removed["cached_answers"] += self._delete(session, CachedAnswer, CachedAnswer.tenant_id == tenant_id,
                                                      CachedAnswer.conversation_id.in_(ids))  # answers they taught the cache
            removed["conversations"] += self._delete(session, Conversation, Conversation.id.in_(ids))
        for app in sorted(set(apps.values())):
            owned = tuple(i for i, a in apps.items() if a == app)
            removed.update(self._app_hook(app, Erasure(tenant_id, conversation_ids=owned)))
        return ids, {k: v for k, v in removed.items() if v}

    def erase_document(self, tenant_id: str, kb: str, document_id: str, principal: Any) -> dict[str, int]:
        """Remove a document (rows, stored upload, chunks, vectors) and its ingest jobs; one audit row."""
        self.platform.knowledge.delete_document(tenant_id, kb, document_id)
        with self.db.session() as session:
            jobs = self._delete(session, JobRecord, JobRecord.tenant_id == tenant_id, JobRecord.state.in_(FINAL_STATES),
                                cast(JobRecord.payload, String).contains(document_id))
        counts = {"documents": 1, "jobs": jobs}
        record(self.db, principal, "erase document", tenant_id=tenant_id, target=document_id, detail={"removed": counts})
        return counts

    def erase_subject(self, tenant_id: str, principal: Any, *, email: str | None = None,
                      customer_id: str | None = None) -> dict[str, int]:
        """Remove everything of one data subject: the conversations that mention the email or customer id,
        finished jobs whose payload or result mentions them, and the apps' rows (their ``erase`` hooks)."""
        needles = [n.strip() for n in (email, customer_id) if n and n.strip()]
        if not needles:
            raise UserError("name the data subject: 'email' or 'customer_id'", field="email")
        patterns = [re.compile(rf"(?<![\w@.+-]){re.escape(n)}(?![\w@-])", re.I) for n in needles]
        with self.db.session() as session:
            mentions = or_(*(func.lower(MessageRecord.content).contains(n.lower()) for n in needles))
            candidates = session.execute(select(MessageRecord.conversation_id, MessageRecord.content).where(
                MessageRecord.tenant_id == tenant_id, mentions)).all()
            in_metadata = session.execute(select(Conversation.id, cast(Conversation.metadata_, String)).where(
                Conversation.tenant_id == tenant_id,
                or_(*(func.lower(cast(Conversation.metadata_, String)).contains(n.lower()) for n in needles)))).all()
            conversations = sorted({cid for cid, text in [*candidates, *in_metadata] if any(p.search(text or "") for p in patterns)})
            job_text = func.lower(cast(JobRecord.payload, String) + cast(JobRecord.result, String))
            job_rows = session.execute(select(JobRecord.id, cast(JobRecord.payload, String), cast(JobRecord.result, String))
                                       .where(JobRecord.tenant_id == tenant_id, JobRecord.state.in_(FINAL_STATES),
                                              or_(*(job_text.contains(n.lower()) for n in needles)))).all()
            jobs = [jid for jid, payload, result in job_rows if any(p.search(f"{payload} {result}") for p in patterns)]
            removed: Counter[str] = Counter({"jobs": self._delete(session, JobRecord, JobRecord.id.in_(jobs))})
        if conversations:  # counted in this erasure's one audit row
            removed.update(self._erase_conversations(tenant_id, conversations)[1])
        for app in self.platform.apps:
            removed.update(self._app_hook(app.name, Erasure(tenant_id, email=email, customer_id=customer_id)))
        counts = {k: v for k, v in removed.items() if v}
        who = "email" if email else "customer id"
        record(self.db, principal, "erase data subject", tenant_id=tenant_id, target=f"by {who}",
               detail={"removed": counts})
        return counts

    def erase_tenant(self, tenant_id: str, principal: Any) -> dict[str, int]:
        """Remove every row and vector of the tenant, its keys and accounts included. The audit row that
        says so is the one row left behind (the tenant's earlier audit rows go too)."""
        removed: Counter[str] = Counter()
        for app in self.platform.apps:
            with self.db.session() as session:
                for table in reversed([t.__table__ for t in app.tables]):
                    result = session.execute(delete(table).where(table.c.tenant_id == tenant_id))
                    removed[table.name] += int(result.rowcount or 0)  # type: ignore[attr-defined]
            removed.update(self._app_hook(app.name, Erasure(tenant_id)))
        with self.db.session() as session:
            kb_ids = list(session.scalars(select(KnowledgeBaseRecord.id).where(KnowledgeBaseRecord.tenant_id == tenant_id)))
        for kb_id in kb_ids:
            try:
                self.platform.knowledge.vector_store.drop(kb_id)
                removed["vector_collections"] += 1
            except Exception as exc:  # no collection yet (nothing indexed)
                log.info("no vectors to drop for knowledge base %s: %s", kb_id, exc)
        with self.db.session() as session:
            removed["chunks"] += self._delete(session, ChunkRecord, ChunkRecord.tenant_id == tenant_id)
            documents = select(DocumentRecord.id).where(DocumentRecord.tenant_id == tenant_id)
            removed["document_uploads"] += self._delete(session, DocumentBlobRecord, DocumentBlobRecord.document_id.in_(documents))
            removed["documents"] += self._delete(session, DocumentRecord, DocumentRecord.tenant_id == tenant_id)
            removed["knowledge_bases"] += self._delete(session, KnowledgeBaseRecord, KnowledgeBaseRecord.tenant_id == tenant_id)
            removed["jobs"] += self._delete(session, JobRecord, JobRecord.tenant_id == tenant_id)
            removed["tool_calls"] += self._delete(session, ToolCallRecord, ToolCallRecord.tenant_id == tenant_id)
            removed["messages"] += self._delete(session, MessageRecord, MessageRecord.tenant_id == tenant_id)
            removed["chat_requests"] += self._delete(session, ChatRequestRecord, ChatRequestRecord.tenant_id == tenant_id)
            removed["cached_answers"] += self._delete(session, CachedAnswer, CachedAnswer.tenant_id == tenant_id)
            removed["pinned_answers"] += self._delete(session, PinnedAnswer, PinnedAnswer.tenant_id == tenant_id)
            removed["conversations"] += self._delete(session, Conversation, Conversation.tenant_id == tenant_id)
            removed["model_versions"] += self._delete(session, ModelVersion, ModelVersion.tenant_id == tenant_id)
            removed["retention_policies"] += self._delete(session, RetentionPolicy, RetentionPolicy.tenant_id == tenant_id)
            removed["api_keys"] += self._delete(session, ApiKey, ApiKey.tenant_id == tenant_id)
            removed["accounts"] += self._delete(session, Account, Account.tenant_id == tenant_id)
            removed["audit_rows"] += self._delete(session, AuditRecord, AuditRecord.tenant_id == tenant_id)
            removed["tenants"] += self._delete(session, Tenant, Tenant.id == tenant_id)
        self.platform._seeded = {seeded for seeded in self.platform._seeded if seeded[1] != tenant_id}
        counts = {k: v for k, v in removed.items() if v}
        record(self.db, principal, "erase tenant", tenant_id=tenant_id, target=tenant_id, detail={"removed": counts})
        return counts

    # -- export ---------------------------------------------------------------------------------
    def export_tenant(self, tenant_id: str) -> dict[str, Any]:
        """Everything stored for the tenant, as JSON-ready data (uploads as their extracted text; keys
        without their hashes)."""
        with self.db.session() as session:
            tenant = session.get(Tenant, tenant_id)
            conversations = []
            for conversation in session.scalars(select(Conversation).where(Conversation.tenant_id == tenant_id)
                                                .order_by(Conversation.created_at)):
                item = _row(conversation)
                item["messages"] = [_row(m) for m in session.scalars(
                    select(MessageRecord).where(MessageRecord.conversation_id == conversation.id).order_by(MessageRecord.seq))]
                item["tool_calls"] = [_row(c) for c in session.scalars(
                    select(ToolCallRecord).where(ToolCallRecord.conversation_id == conversation.id))]
                conversations.append(item)
            knowledge_bases = []
            for kb in session.scalars(select(KnowledgeBaseRecord).where(KnowledgeBaseRecord.tenant_id == tenant_id)):
                item = _row(kb)
                item["documents"] = [_row(d) for d in session.scalars(
                    select(DocumentRecord).where(DocumentRecord.knowledge_base_id == kb.id))]
                knowledge_bases.append(item)
            keys = [{k: v for k, v in _row(key).items() if "hash" not in k and "salt" not in k}
                    for key in session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id))]
            accounts = [{k: v for k, v in _row(a).items() if "hash" not in k and "salt" not in k and "password" not in k}
                        for a in session.scalars(select(Account).where(Account.tenant_id == tenant_id))]
            data: dict[str, Any] = {
                "tenant": _row(tenant) if tenant is not None else {"id": tenant_id},
                "exported_at": utcnow().isoformat(),
                "conversations": conversations,
                "knowledge_bases": knowledge_bases,
                "jobs": [_row(j) for j in session.scalars(select(JobRecord).where(JobRecord.tenant_id == tenant_id))],
                "model_versions": [_row(m) for m in session.scalars(select(ModelVersion).where(ModelVersion.tenant_id == tenant_id))],
                "retention_policies": [_row(p) for p in session.scalars(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant_id))],
                "pinned_answers": [{k: v for k, v in _row(p).items() if k != "embedding"} for p in session.scalars(
                    select(PinnedAnswer).where(PinnedAnswer.tenant_id == tenant_id))],
                "api_keys": keys,
                "accounts": accounts,
                "audit": [_row(a) for a in session.scalars(select(AuditRecord).where(AuditRecord.tenant_id == tenant_id)
                                                          .order_by(AuditRecord.id))],
                "apps": {},
            }
            for app in self.platform.apps:
                tables = {}
                for table_class in app.tables:
                    table = table_class.__table__
                    tables[table.name] = [_plain(dict(r._mapping)) for r in session.execute(
                        select(table).where(table.c.tenant_id == tenant_id))]
                if app.export is not None:  # data the app keeps outside its declared tables
                    tables.update(app.export(self.platform.app_context(app.name), tenant_id))
                if tables:
                    data["apps"][app.name] = {name: [_plain(row) for row in rows] for name, rows in tables.items()}
        return data

    # -- retention ------------------------------------------------------------------------------
    def set_retention(self, tenant_id: str, policy: RetentionIn, principal: Any) -> dict[str, Any]:
        app = policy.app or ALL_APPS
        if app:
            self.platform.apps.get(app, field="app")
        with self.db.session() as session:
            row = session.scalars(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant_id,
                                                                RetentionPolicy.app == app)).first()
            if row is None:
                row = RetentionPolicy(tenant_id=tenant_id, app=app)
                session.add(row)
            row.conversation_days, row.job_days = policy.conversation_days, policy.job_days
            session.flush()
            out = _row(row)
        record(self.db, principal, "set retention", tenant_id=tenant_id, app=app or None, detail=policy.model_dump())
        return out

    def retention(self, tenant_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return [_row(p) for p in session.scalars(select(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant_id)
                                                     .order_by(RetentionPolicy.app))]

    def apply_retention(self, now: datetime | None = None) -> dict[str, int]:
        """Erase what every tenant's policies say is too old (an app's own policy wins over the tenant's)."""
        now = now or utcnow()
        removed: Counter[str] = Counter()
        with self.db.session() as session:
            policies = list(session.scalars(select(RetentionPolicy)))
        by_tenant: dict[str, dict[str, RetentionPolicy]] = {}
        for policy in policies:
            by_tenant.setdefault(policy.tenant_id, {})[policy.app] = policy
        for tenant_id, own in by_tenant.items():
            for app in [*self.platform.apps, None]:  # None: the core's own jobs (ingestion), under the tenant's policy
                name = app.name if app is not None else CORE_APP
                policy = own.get(name) or own.get(ALL_APPS)
                if policy is None:
                    continue
                if policy.conversation_days and app is not None:
                    cutoff = now - timedelta(days=policy.conversation_days)
                    with self.db.session() as session:
                        old = list(session.scalars(select(Conversation.id).where(
                            Conversation.tenant_id == tenant_id, Conversation.app == app.name, Conversation.updated_at < cutoff)))
                    removed.update(self.erase_conversations(tenant_id, old, None, reason="retention: erase conversation"))
                if policy.job_days:
                    cutoff = now - timedelta(days=policy.job_days)
                    with self.db.session() as session:
                        jobs = self._delete(session, JobRecord, JobRecord.tenant_id == tenant_id, JobRecord.app == name,
                                            JobRecord.state.in_(FINAL_STATES), JobRecord.finished_at < cutoff)
                    if jobs:
                        removed["jobs"] += jobs
                        record(self.db, None, "retention: erase jobs", tenant_id=tenant_id, app=name,
                               detail={"removed": {"jobs": jobs}})
        return {k: v for k, v in removed.items() if v}

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _delete(session: Session, table: Any, *where: Any) -> int:
        result = session.execute(delete(table).where(*where).execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _app_hook(self, app_name: str, erasure: Erasure) -> dict[str, int]:
        app = next((a for a in self.platform.apps if a.name == app_name), None)  # an uninstalled app has nothing here
        if app is None or app.erase is None:
            return {}
        return {str(k): int(v) for k, v in app.erase(self.platform.app_context(app_name), erasure).items()}
