"""A short-lived in-process memory of verified keys, so that the gate's key check is a dictionary read.

An entry maps a presented key (by its SHA-256, with the database it was checked against) to its principal
for at most ``ttl_s`` seconds (``MOESAIC_KEY_CACHE_SECONDS``) and never past the key's own expiry. Refused
keys are never remembered; ``ttl_s`` 0 turns the memory off.

When a session of this process commits a change to a key or an account row (revoke, rotate, disable, a
tenant's erasure: an ORM update or delete, or a flushed change of a loaded row), everything is forgotten,
so such a change takes effect at the next request. A change made by another process (the CLI, another API
worker) is seen here within ``ttl_s``. A statement marked ``execution_options(key_cache="keep")`` (the
``last_used_at`` stamp) forgets nothing.

Not here: checking a key (``keys.authenticate``), HTTP (``moesaic.api.gate``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from moesaic.access.principal import Principal
from moesaic.access.tables import Account, ApiKey

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic()


def _digest(database_url: str, plaintext: str) -> str:
    return hashlib.sha256(f"{database_url}\0{plaintext}".encode()).hexdigest()


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.generation = 0  # counts ``clear``: a key read before a clear is not remembered after it

    def get(self, database_url: str, plaintext: str) -> Principal | None:
        entry = self._entries.get(_digest(database_url, plaintext))
        if entry is None or time.monotonic() >= entry.until:
            return None
        return entry.principal

    def put(self, database_url: str, plaintext: str, principal: Principal, *, ttl_s: float,
            expires_at: datetime | None, now: datetime, generation: int) -> None:
        """Remember a key verified from a read made at ``generation``, for ``ttl_s`` seconds at most and not
        past ``expires_at``; nothing when the memory was cleared since that read."""
        lifetime = ttl_s if expires_at is None else min(ttl_s, (expires_at - now).total_seconds())
        if lifetime <= 0:
            return
        moment = time.monotonic()
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {k: e for k, e in self._entries.items() if e.until > moment}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[_digest(database_url, plaintext)] = _Entry(principal, moment + lifetime)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1


KEY_CACHE = KeyCache()

_CHANGED = "moesaic_keys_changed"  # in ``Session.info``: this transaction changed a key or an account
_TABLES = {ApiKey.__tablename__, Account.__tablename__}


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get("key_cache") == "keep":
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    if any(isinstance(row, (ApiKey, Account)) for row in chain(session.dirty, session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        KEY_CACHE.clear()


@event.listens_for(Session, "after_rollback")
def _on_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
