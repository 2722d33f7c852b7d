"""One turn at a time per conversation, and chat requests a client may safely retry.

``TurnLocks``: a turn takes its conversation with one atomic UPDATE (``turn_holder`` is empty, or its holder
stopped renewing for ``stale_after_s``) before anything of the turn is stored; a second concurrent turn is
refused with ``ConversationBusy`` (409 with ``Retry-After``) and stores nothing. The holder renews while it
streams and lets go when the turn ends, however it ends.

``ChatRequests``: the ``Idempotency-Key`` of a chat request. The first request with a key runs the turn and
keeps its response; a retry with the same key and body gets that response again; while the first still runs
a retry is a 409; after a failure the retry runs the turn again on the same conversation without storing the
user's message a second time. The same key with another body is a 422 naming the header.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from moesaic.db import Database, new_id, utcnow
from moesaic.errors import Conflict, NotFound, UserError
from moesaic.memory.store import ConversationInfo
from moesaic.memory.tables import ChatRequestRecord, Conversation, MessageRecord

BUSY_RETRY_AFTER_S = 1
IDEMPOTENCY_HEADER = "Idempotency-Key"
EXPIRE_EVERY = 100  # keyed requests between two sweeps of expired records


class ConversationBusy(Conflict):
    """Another turn of this conversation is running; nothing of this request was stored."""

    retry_after = BUSY_RETRY_AFTER_S


class KeyReused(UserError):
    """An idempotency key sent again with a different request."""

    status = 422


class Deferred:
    """Writes that end a turn (release its conversation, mark its request failed or done) and could not be made
    because the database was away: kept in this process and made again before the next chat request, so a
    retry is not refused with 409 until the turn lock goes stale (minutes) after an outage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: list[Callable[[], None]] = []

    def attempt(self, write: Callable[[], None]) -> None:
        """Make ``write``; if the database is away, keep it for ``retry`` and raise."""
        try:
            write()
        except (DBAPIError, PoolTimeout):
            with self._lock:
                self._writes.append(write)
            raise

    def retry(self) -> None:
        """Make the kept writes (in their order); those that still fail stay kept."""
        with self._lock:
            writes, self._writes = self._writes, []
        for i, write in enumerate(writes):
            try:
                write()
            except (DBAPIError, PoolTimeout):
                with self._lock:
                    self._writes[:0] = writes[i:]
                return

    @property
    def pending(self) -> int:
        return len(self._writes)


class TurnLocks:
    def __init__(self, db: Database, stale_after_s: float, deferred: Deferred | None = None) -> None:
        self.db = db
        self.stale_after = timedelta(seconds=stale_after_s)
        self.deferred = deferred if deferred is not None else Deferred()

    def take(self, tenant_id: str, conversation_id: str, app: str) -> tuple[str, ConversationInfo]:
        """Take a conversation of ``app`` for one turn and read it as it is once taken (the last turn's writes
        in), in one transaction; the token goes to ``renew`` and ``release``. Another app's conversation is a
        ``UserError`` naming ``conversation_id`` (and is not taken, even for a moment), whether or not it is busy.
        A new conversation is made already taken (``ConversationStore.create(turn_holder=...)``)."""
        token = new_id()
        now = utcnow()
        with self.db.session() as session:
            taken = session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.tenant_id == tenant_id,
                    Conversation.app == app,
                    or_(Conversation.turn_holder.is_(None), Conversation.turn_renewed_at < now - self.stale_after),
                )
                .values(turn_holder=token, turn_renewed_at=now, updated_at=Conversation.updated_at)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                row = session.get(Conversation, conversation_id)
                assert row is not None, "the conversation was just taken"
                return token, ConversationInfo.of(row)
            owner = session.scalar(select(Conversation.app).where(Conversation.id == conversation_id,
                                                                  Conversation.tenant_id == tenant_id))
        if owner is None:
            raise NotFound(f"conversation {conversation_id!r} not found", field="conversation_id")
        if owner != app:
            raise UserError(f"conversation {conversation_id!r} belongs to app {owner!r}, not {app!r}", field="conversation_id")
        raise ConversationBusy(
            f"conversation {conversation_id!r} is answering another message; nothing of this request was stored. "
            f"Send it again when that turn has ended (retry in {BUSY_RETRY_AFTER_S} s)",
            field="conversation_id",
        )

    def renew(self, conversation_id: str, token: str) -> None:
        self._set(conversation_id, token, turn_renewed_at=utcnow())

    def release(self, conversation_id: str, token: str) -> None:
        self.deferred.attempt(lambda: self._set(conversation_id, token, turn_holder=None, turn_renewed_at=None))

    def _set(self, conversation_id: str, token: str, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.turn_holder == token)
                .values(**values, updated_at=Conversation.updated_at)
                .execution_options(synchronize_session=False)
            )


def fingerprint(body: dict[str, Any]) -> str:
    """A digest of a request body (key order does not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """What to do with a chat request that carries an idempotency key.

    ``replay``: the stored response of the first request. Otherwise this request runs the turn (record
    ``id``); ``conversation_id`` is set when an earlier attempt already made the conversation, and
    ``resume`` when it already stored the user's message (after ``base_seq``)."""

    id: str
    replay: dict[str, Any] | None = None
    conversation_id: str | None = None
    base_seq: int = 0
    resume: bool = False


class ChatRequests:
    def __init__(self, db: Database, stale_after_s: float, keep_s: float = 24 * 3600,
                 deferred: Deferred | None = None) -> None:
        self.db = db
        self.deferred = deferred if deferred is not None else Deferred()
        self.stale_after = timedelta(seconds=stale_after_s)
        self.keep = timedelta(seconds=keep_s)
        self._begun = 0

    def begin(self, tenant_id: str, principal_id: str, key: str, digest: str) -> Attempt:
        now = utcnow()
        try:
            with self.db.session() as session:
                row = ChatRequestRecord(id=new_id(), tenant_id=tenant_id, principal_id=principal_id, idempotency_key=key,
                                        fingerprint=digest, state="running", base_seq=0)
                session.add(row)
                session.flush()
            self._begun += 1
            if self._begun % EXPIRE_EVERY == 0:
                self.expire()
            return Attempt(row.id)
        except IntegrityError:
            pass  # the key was used before: what did that request do?
        with self.db.session() as session:
            row = session.scalars(select(ChatRequestRecord).where(
                ChatRequestRecord.tenant_id == tenant_id, ChatRequestRecord.principal_id == principal_id,
                ChatRequestRecord.idempotency_key == key)).one()
            if row.fingerprint != digest:
                raise KeyReused(f"the {IDEMPOTENCY_HEADER} {key!r} was used for a different request; use a new key for a "
                                "new request", field=IDEMPOTENCY_HEADER)
            if row.state == "done" and row.response is not None:
                return Attempt(row.id, replay=dict(row.response))
            # failed, or running with no sign of life: this request takes it over (one taker wins)
            taken = session.execute(
                update(ChatRequestRecord)
                .where(ChatRequestRecord.id == row.id, ChatRequestRecord.updated_at == row.updated_at,
                       or_(ChatRequestRecord.state == "failed",
                           and_(ChatRequestRecord.state == "running", ChatRequestRecord.updated_at < now - self.stale_after)))
                .values(state="running", updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise ConversationBusy(f"the request with {IDEMPOTENCY_HEADER} {key!r} is still running; retry in "
                                       f"{BUSY_RETRY_AFTER_S} s to get its answer", field=IDEMPOTENCY_HEADER)
            conversation_id, base_seq = row.conversation_id, row.base_seq
            resume = conversation_id is not None and session.scalar(
                select(MessageRecord.id).where(MessageRecord.conversation_id == conversation_id,
                                               MessageRecord.seq > base_seq, MessageRecord.role == "user").limit(1)
            ) is not None
        return Attempt(row.id, conversation_id=conversation_id, base_seq=base_seq, resume=resume)

    def attach(self, attempt_id: str, conversation_id: str, base_seq: int) -> None:
        """The conversation this request's turn runs on, and its last seq before the turn."""
        self._set(attempt_id, conversation_id=conversation_id, base_seq=base_seq)

    def finish(self, attempt_id: str, response: dict[str, Any]) -> None:
        self.deferred.attempt(lambda: self._set(attempt_id, state="done", response=response, error=None))

    def fail(self, attempt_id: str, error: str) -> None:
        self.deferred.attempt(lambda: self._set(attempt_id, state="failed", error=error[:2000]))

    def forget(self, attempt_id: str) -> None:
        """The request stored nothing (refused before its turn started): the key may be used afresh."""
        with self.db.session() as session:
            session.query(ChatRequestRecord).filter(ChatRequestRecord.id == attempt_id).delete()

    def expire(self) -> int:
        """Delete records older than ``keep_s`` (a retry after that runs the request again)."""
        cutoff = datetime.now(timezone.utc) - self.keep
        with self.db.session() as session:
            return int(session.query(ChatRequestRecord).filter(ChatRequestRecord.created_at < cutoff).delete())

    def _set(self, attempt_id: str, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(update(ChatRequestRecord).where(ChatRequestRecord.id == attempt_id)
                            .values(**values, updated_at=utcnow()).execution_options(synchronize_session=False))
