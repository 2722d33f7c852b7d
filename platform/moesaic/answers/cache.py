"""``AnswerCache``: answers to repeated questions without a model call, and operators' pinned answers.

A lookup runs in one scope (tenant, app, knowledge base, version key) and tries, in order: a pinned answer
with the same normalised question, a pinned answer whose question is a near-duplicate (cosine similarity of
MiniLM embeddings at least the policy's threshold), a cached answer with the same normalised question, a
cached near-duplicate. Pinned answers belong to the tenant and app (every knowledge base, every version);
cached ones expire after the policy's TTL and stop matching when the version key changes.

This module decides nothing about which turns may use the cache (``answers.eligibility`` and the agent loop
do) and never calls a model. The embedding of a question is computed once per lookup, only when an exact
match failed, and handed back so ``remember`` need not compute it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from moesaic.answers.matching import best_match, normalise_question, question_key, to_bytes
from moesaic.answers.policy import ResolvedPolicy
from moesaic.answers.tables import CachedAnswer, PinnedAnswer
from moesaic.answers.versioning import knowledge_base_fingerprint, version_key
from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound, UserError
from moesaic.retrieval.embeddings import Embedder

CACHED = "answer_cache"
PINNED = "pinned_answer"


@dataclass(frozen=True)
class CacheScope:
    tenant_id: str
    app: str
    knowledge_base: str
    version: str
    policy: ResolvedPolicy


@dataclass(frozen=True)
class CacheHit:
    source: str  # CACHED | PINNED
    entry_id: str
    question: str  # the question the answer was stored for
    answer: str
    citations: list[dict[str, Any]]
    match: str  # "exact" | "near"
    similarity: float
    model_seconds: float  # what generating the answer took: saved by this hit (0 for pinned answers)

    def message_metadata(self) -> dict[str, Any]:
        """What the stored answer says about where it came from."""
        key = "cache_entry" if self.source == CACHED else "pinned_answer"
        return {"served_from": self.source, key: self.entry_id, "match": self.match, "similarity": round(self.similarity, 4)}


@dataclass
class Lookup:
    key: str
    embedding: np.ndarray | None
    hit: CacheHit | None


class AnswerCache:
    def __init__(self, db: Database, embedder: Callable[[], Embedder], clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self._embedder = embedder
        self.clock = clock

    def scope(self, tenant_id: str, app: str, knowledge_base: str | None, app_fingerprint: str,
              policy: ResolvedPolicy) -> CacheScope:
        kb = knowledge_base or ""
        state = knowledge_base_fingerprint(self.db, tenant_id, kb)
        return CacheScope(tenant_id, app, kb, version_key(state, app_fingerprint), policy)

    def embed(self, text: str) -> np.ndarray:
        return self._embedder().embed_query(normalise_question(text))

    # -- lookups --------------------------------------------------------------------------------
    def lookup(self, scope: CacheScope, question: str) -> Lookup:
        found = Lookup(question_key(question), None, None)
        normalised = normalise_question(question)
        with self.db.session() as session:
            pins = session.execute(select(PinnedAnswer.id, PinnedAnswer.question_key, PinnedAnswer.question,
                                          PinnedAnswer.embedding).where(
                PinnedAnswer.tenant_id == scope.tenant_id, PinnedAnswer.app == scope.app)).all()
        exact = next((pin_id for pin_id, key, _, _ in pins if key == found.key), None)
        if exact is not None:
            found.hit = self._pinned_hit(exact, "exact", 1.0)
            return found
        if pins:
            found.embedding = self.embed(question)
            near = best_match(found.embedding, normalised, [(pin_id, normalise_question(text), data)
                                                           for pin_id, _, text, data in pins], scope.policy.threshold)
            if near is not None:
                found.hit = self._pinned_hit(near[0], "near", near[1])
                return found
        if not scope.policy.enabled:
            return found
        now = self.clock()
        live = (CachedAnswer.tenant_id == scope.tenant_id, CachedAnswer.app == scope.app,
                CachedAnswer.knowledge_base == scope.knowledge_base, CachedAnswer.version == scope.version,
                CachedAnswer.expires_at > now)
        with self.db.session() as session:
            rows = session.execute(select(CachedAnswer.id, CachedAnswer.question_key, CachedAnswer.question,
                                          CachedAnswer.embedding).where(*live)).all()
        exact = next((entry_id for entry_id, key, _, _ in rows if key == found.key), None)
        if exact is not None:
            found.hit = self._cached_hit(exact, "exact", 1.0)
            return found
        if found.embedding is None:
            found.embedding = self.embed(question)
        near = best_match(found.embedding, normalised, [(entry_id, normalise_question(text), data)
                                                       for entry_id, _, text, data in rows], scope.policy.threshold)
        if near is not None:
            found.hit = self._cached_hit(near[0], "near", near[1])
        return found

    def _pinned_hit(self, pin_id: str, match: str, similarity: float) -> CacheHit:
        with self.db.session() as session:
            row = session.get(PinnedAnswer, pin_id)
            assert row is not None, "a pinned answer vanished between two reads"
            row.hits += 1
            row.last_hit_at = self.clock()
            return CacheHit(PINNED, row.id, row.question, row.answer, [], match, similarity, 0.0)

    def _cached_hit(self, entry_id: str, match: str, similarity: float) -> CacheHit:
        with self.db.session() as session:
            row = session.get(CachedAnswer, entry_id)
            assert row is not None, "a cached answer vanished between two reads"
            row.hits += 1
            row.last_hit_at = self.clock()
            return CacheHit(CACHED, row.id, row.question, row.answer, list(row.citations or []), match, similarity,
                            row.model_seconds)

    # -- writes ---------------------------------------------------------------------------------
    def remember(self, scope: CacheScope, lookup: Lookup, question: str, answer: str, citations: list[dict[str, Any]],
                 *, conversation_id: str | None, model_seconds: float) -> str | None:
        """Keep a generated answer for ``question`` (None: the cache is off for the app, or the answer is empty).
        Entries of older versions in the scope, expired ones, and the least used past the size cap go."""
        if not scope.policy.enabled or not answer.strip():
            return None
        embedding = lookup.embedding if lookup.embedding is not None else self.embed(question)
        now = self.clock()
        in_scope = (CachedAnswer.tenant_id == scope.tenant_id, CachedAnswer.app == scope.app,
                    CachedAnswer.knowledge_base == scope.knowledge_base)
        with self.db.session() as session:
            session.execute(delete(CachedAnswer).where(*in_scope, (CachedAnswer.version != scope.version)
                                                       | (CachedAnswer.expires_at <= now))
                            .execution_options(synchronize_session=False))
            row = CachedAnswer(tenant_id=scope.tenant_id, app=scope.app, knowledge_base=scope.knowledge_base,
                               version=scope.version, question=question[:4000], question_key=lookup.key,
                               embedding=to_bytes(embedding), answer=answer, citations=citations or None,
                               conversation_id=conversation_id, model_seconds=model_seconds, hits=0,
                               expires_at=now + timedelta(seconds=scope.policy.ttl_seconds))
            session.add(row)
            session.flush()
            entry_id = row.id
            count = session.scalar(select(func.count()).select_from(CachedAnswer).where(*in_scope)) or 0
            if count > scope.policy.max_entries:
                used = func.coalesce(CachedAnswer.last_hit_at, CachedAnswer.created_at)
                oldest = list(session.scalars(select(CachedAnswer.id).where(*in_scope, CachedAnswer.id != entry_id)
                                              .order_by(CachedAnswer.hits, used).limit(count - scope.policy.max_entries)))
                session.execute(delete(CachedAnswer).where(CachedAnswer.id.in_(oldest)).execution_options(synchronize_session=False))
        return entry_id

    # -- pinned answers -------------------------------------------------------------------------
    def pin(self, tenant_id: str, app: str, question: str, answer: str, *, created_by: str = "") -> dict[str, Any]:
        """Pin ``answer`` to ``question`` for the app (409 when the same normalised question is pinned)."""
        if not normalise_question(question):
            raise UserError("the question has no words to match on", field="question")
        try:
            with self.db.session() as session:
                row = PinnedAnswer(tenant_id=tenant_id, app=app, question=question, question_key=question_key(question),
                                   embedding=to_bytes(self.embed(question)), answer=answer, created_by=created_by[:200], hits=0)
                session.add(row)
                session.flush()
                return pinned_to_dict(row)
        except IntegrityError as exc:
            raise Conflict("this question already has a pinned answer; unpin it first", field="question") from exc

    def pinned(self, tenant_id: str, app: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(select(PinnedAnswer).where(PinnedAnswer.tenant_id == tenant_id, PinnedAnswer.app == app)
                                   .order_by(PinnedAnswer.created_at, PinnedAnswer.id))
            return [pinned_to_dict(row) for row in rows]

    def unpin(self, tenant_id: str, app: str, pin_id: str) -> None:
        with self.db.session() as session:
            removed = session.execute(delete(PinnedAnswer).where(
                PinnedAnswer.tenant_id == tenant_id, PinnedAnswer.app == app, PinnedAnswer.id == pin_id)
                .execution_options(synchronize_session=False))
            if not removed.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"pinned answer {pin_id!r} not found", field="answer_id")

    def cached(self, tenant_id: str, app: str, limit: int = 100) -> list[dict[str, Any]]:
        """The app's live cached answers, most used first (for operators)."""
        with self.db.session() as session:
            rows = session.scalars(select(CachedAnswer).where(
                CachedAnswer.tenant_id == tenant_id, CachedAnswer.app == app, CachedAnswer.expires_at > self.clock())
                .order_by(CachedAnswer.hits.desc(), CachedAnswer.created_at.desc()).limit(limit))
            return [cached_to_dict(row) for row in rows]

    def forget(self, tenant_id: str, app: str, entry_id: str) -> bool:
        """Drop one cached answer (False: none with that id)."""
        with self.db.session() as session:
            result = session.execute(delete(CachedAnswer).where(
                CachedAnswer.tenant_id == tenant_id, CachedAnswer.app == app, CachedAnswer.id == entry_id)
                .execution_options(synchronize_session=False))
            return bool(result.rowcount)  # type: ignore[attr-defined]


def pinned_to_dict(row: PinnedAnswer) -> dict[str, Any]:
    return {"id": row.id, "source": PINNED, "question": row.question, "answer": row.answer, "citations": [],
            "hits": row.hits, "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "expires_at": None, "knowledge_base": None}


def cached_to_dict(row: CachedAnswer) -> dict[str, Any]:
    return {"id": row.id, "source": CACHED, "question": row.question, "answer": row.answer,
            "citations": list(row.citations or []), "hits": row.hits, "created_by": "", "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat(), "knowledge_base": row.knowledge_base or None}
