"""The stored feature state: per customer and per terminal, the recent history online features read.

Each ``FeatureStateRow`` holds one ``features.online.EntityHistory`` as JSON (times, transaction ids,
amounts in cents, labels), pruned to the horizon any window reaches (30 days + the label delay). Scoring
and ingestion load the rows of the entities they touch (locked on PostgreSQL), work on a
``FeatureState`` built from them, and write back what changed, in the caller's transaction.

A label (investigator or import) is written into both entities' histories, so the terminal's known
fraud rate counts it once it is visible (``delay`` after its transaction), never earlier.

Not here: the feature formulas (``features``), the transaction rows (``ingest``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.features.online import EntityHistory, FeatureState
from apps.fraud_detection.tables import FeatureStateRow

KINDS = ("customer", "terminal")
CHUNK = 500
ATTEMPTS = 3
T = TypeVar("T")
_SQLITE_STATE = threading.RLock()


@contextmanager
def state_guard(db: Any) -> Iterator[None]:
    """Around work that reads and rewrites feature state. On SQLite, one at a time in this process: the
    driver reads outside a transaction, so two concurrent read-modify-writes of one entity could lose one
    (run one API process over SQLite). On PostgreSQL the rows are locked by ``StoredState.load``.
    Enter it before the session, so that the commit happens while it is held."""
    with _SQLITE_STATE if db.dialect == "sqlite" else nullcontext():
        yield


def with_state(db: Any, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a transaction of its own under ``state_guard``; retried when a concurrent writer
    inserted the same new entity's state row (or the same transaction) first."""
    for attempt in range(ATTEMPTS):
        try:
            with state_guard(db), db.session() as session:
                return work(session)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def history_to_json(history: EntityHistory) -> dict[str, Any]:
    return {"t": [k[0] for k in history.keys], "id": [k[1] for k in history.keys], "cents": list(history.cents),
            "label": list(history.labels), "pruned_last_t": history.pruned_last_t}


def history_from_json(data: dict[str, Any]) -> EntityHistory:
    return EntityHistory(keys=list(zip(data["t"], data["id"])), cents=list(data["cents"]), labels=list(data["label"]),
                         pruned_last_t=int(data["pruned_last_t"]))


_STATE = cast(Table, FeatureStateRow.__table__)
# Built once (the hot path only binds values): the rows of some entities of one kind, and their writes.
_SELECT_STATE = (select(_STATE.c.id, _STATE.c.entity_id, _STATE.c.history)
                 .where(_STATE.c.tenant_id == bindparam("tenant"), _STATE.c.kind == bindparam("kind"),
                        _STATE.c.entity_id.in_(bindparam("ids", expanding=True))))
_SELECT_STATE_LOCKED = _SELECT_STATE.with_for_update()
_SELECT_IDS = (select(_STATE.c.id, _STATE.c.entity_id)
               .where(_STATE.c.tenant_id == bindparam("tenant"), _STATE.c.kind == bindparam("kind"),
                      _STATE.c.entity_id.in_(bindparam("ids", expanding=True))))
_UPDATE_STATE = (update(_STATE).where(_STATE.c.id == bindparam("row_id"))
                 .values(history=bindparam("history"), updated_at=bindparam("at")))
_INSERT_STATE = insert(_STATE)


class StoredState:
    """A ``FeatureState`` over the stored rows of some entities; ``save`` writes back the touched ones."""

    def __init__(self, session: Session, tenant_id: str, config: FeatureConfig) -> None:
        self.session, self.tenant_id = session, tenant_id
        self.state = FeatureState(config)
        self.row_ids: dict[tuple[str, int], int] = {}
        self.loaded: set[tuple[str, int]] = set()
        self.touched: set[tuple[str, int]] = set()

    def _table(self, kind: str) -> dict[int, EntityHistory]:
        return self.state.customers if kind == "customer" else self.state.terminals

    def load(self, customers: Iterable[int], terminals: Iterable[int], *, lock: bool = True) -> "StoredState":
        """Read (and on PostgreSQL lock) the rows of these entities; entities without a row start empty."""
        query = _SELECT_STATE_LOCKED if lock and self.session.get_bind().dialect.name == "postgresql" else _SELECT_STATE
        for kind, entities in (("customer", customers), ("terminal", terminals)):
            wanted = sorted({int(e) for e in entities} - {e for k, e in self.loaded if k == kind})
            self.loaded.update((kind, e) for e in wanted)
            for start in range(0, len(wanted), CHUNK):
                # one kind per query: "kind = ? AND entity_id IN (...)" walks the unique index
                params = {"tenant": self.tenant_id, "kind": kind, "ids": wanted[start:start + CHUNK]}
                for row_id, entity, history in self.session.execute(query, params):
                    self.row_ids[(kind, int(entity))] = int(row_id)
                    self._table(kind)[int(entity)] = history_from_json(history)
        return self

    def features(self, transaction_id: int, when: datetime, customer: int, terminal: int,
                 amount: float) -> dict[str, float]:
        return self.state.features(transaction_id, when, customer, terminal, amount)  # type: ignore[arg-type]

    def add(self, transaction_id: int, when: Any, customer: int, terminal: int, amount: float, label: int = -1) -> None:
        self.state.add(transaction_id, when, customer, terminal, amount, label)
        self.touched.update({("customer", customer), ("terminal", terminal)})

    def set_label(self, transaction_id: int, t: int, customer: int, terminal: int, label: int) -> None:
        """Record a label in both histories (when the transaction is still within their horizon)."""
        for kind, entity in (("customer", customer), ("terminal", terminal)):
            history = self._table(kind).get(entity)
            if history is None:
                continue
            for i, key in enumerate(history.keys):
                if key == (t, transaction_id):
                    history.labels[i] = label
                    self.touched.add((kind, entity))

    def save(self) -> None:
        """Write the touched histories: updates of existing rows, inserts of new entities (Core, one statement each)."""
        now = datetime.now().astimezone()
        updates, inserts = [], []
        for kind, entity in sorted(self.touched):
            data = history_to_json(self._table(kind)[entity])
            row_id = self.row_ids.get((kind, entity))
            if row_id is None:
                inserts.append({"tenant_id": self.tenant_id, "kind": kind, "entity_id": entity, "history": data,
                                "updated_at": now})
            else:
                updates.append({"row_id": row_id, "history": data, "at": now})
        if updates:
            self.session.execute(_UPDATE_STATE, updates)
        if inserts:
            self.session.execute(_INSERT_STATE, inserts)
            for kind in KINDS:  # the new rows' ids, so that a later save of this state updates them
                new = [i["entity_id"] for i in inserts if i["kind"] == kind]
                for start in range(0, len(new), CHUNK):
                    params = {"tenant": self.tenant_id, "kind": kind, "ids": new[start:start + CHUNK]}
                    for row_id, entity in self.session.execute(_SELECT_IDS, params):
                        self.row_ids[(kind, int(entity))] = int(row_id)
        self.touched.clear()
