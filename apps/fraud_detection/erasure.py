"""The app's part of the data lifecycle (``AppManifest.erase``): a card holder's rows, by customer id.

The fraud data names customers by their integer ``customer_id`` (an id that is not an integer names nobody
here). Erasing one removes their transactions, labels, scores, cases with notes and events, their feature
state, and their transactions' entries in the terminals' feature state (the terminals' histories keep
everyone else's). The app keeps no email and no rows per conversation; a whole tenant's rows of the
declared tables the platform deletes itself.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from apps.fraud_detection.state_store import state_guard
from apps.fraud_detection.tables import (
    CaseEvent,
    CaseNote,
    FeatureStateRow,
    FraudCase,
    FraudLabel,
    FraudScore,
    FraudTransaction,
)
from moesaic.apps import AppContext, Erasure
from moesaic.db import utcnow

CHUNK = 500


def customer_number(customer_id: str | None) -> int | None:
    text = (customer_id or "").strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


def erase(ctx: AppContext, erasure: Erasure) -> dict[str, int]:
    """Remove one customer's rows; {table: rows removed}."""
    customer = customer_number(erasure.customer_id)
    if customer is None or erasure.conversation_ids:
        return {}
    tenant = erasure.tenant_id
    removed: Counter[str] = Counter()
    with state_guard(ctx.db), ctx.db.session() as session:
        seen = session.execute(select(FraudTransaction.transaction_id, FraudTransaction.terminal_id).where(
            FraudTransaction.tenant_id == tenant, FraudTransaction.customer_id == customer)).all()
        scored = session.execute(select(FraudScore.transaction_id, FraudScore.terminal_id).where(
            FraudScore.tenant_id == tenant, FraudScore.customer_id == customer)).all()
        transactions = sorted({int(t) for t, _ in [*seen, *scored]})
        terminals = sorted({int(t) for _, t in [*seen, *scored]})
        cases = list(session.scalars(select(FraudCase.id).where(FraudCase.tenant_id == tenant,
                                                                FraudCase.customer_id == customer)))
        for part in _chunks(cases):
            removed[CaseNote.__tablename__] += _delete(session, CaseNote, CaseNote.tenant_id == tenant, CaseNote.case_id.in_(part))
            removed[CaseEvent.__tablename__] += _delete(session, CaseEvent, CaseEvent.tenant_id == tenant, CaseEvent.case_id.in_(part))
        removed[FraudCase.__tablename__] += _delete(session, FraudCase, FraudCase.tenant_id == tenant, FraudCase.customer_id == customer)
        removed[FraudScore.__tablename__] += _delete(session, FraudScore, FraudScore.tenant_id == tenant, FraudScore.customer_id == customer)
        for part in _chunks(transactions):
            removed[FraudLabel.__tablename__] += _delete(session, FraudLabel, FraudLabel.tenant_id == tenant,
                                                         FraudLabel.transaction_id.in_(part))
        removed[FraudTransaction.__tablename__] += _delete(session, FraudTransaction, FraudTransaction.tenant_id == tenant,
                                                           FraudTransaction.customer_id == customer)
        removed[FeatureStateRow.__tablename__] += _delete(session, FeatureStateRow, FeatureStateRow.tenant_id == tenant,
                                                          FeatureStateRow.kind == "customer", FeatureStateRow.entity_id == customer)
        removed["fraud_detection_terminal_history_entries"] += _forget_at_terminals(session, tenant, terminals, set(transactions))
    return {name: count for name, count in removed.items() if count}


def _forget_at_terminals(session: Session, tenant: str, terminals: list[int], transactions: set[int]) -> int:
    """Drop these transactions from the terminals' stored histories; how many entries went."""
    dropped = 0
    for part in _chunks(terminals):
        rows = session.execute(select(FeatureStateRow.id, FeatureStateRow.history).where(
            FeatureStateRow.tenant_id == tenant, FeatureStateRow.kind == "terminal",
            FeatureStateRow.entity_id.in_(part))).all()
        for row_id, history in rows:
            keep = [i for i, tx in enumerate(history["id"]) if int(tx) not in transactions]
            if len(keep) == len(history["id"]):
                continue
            dropped += len(history["id"]) - len(keep)
            pruned = {**history, **{key: [history[key][i] for i in keep] for key in ("t", "id", "cents", "label")}}
            session.execute(update(FeatureStateRow).where(FeatureStateRow.id == row_id)
                            .values(history=pruned, updated_at=utcnow()))
    return dropped


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


def _delete(session: Session, table: Any, *where: Any) -> int:
    result = session.execute(delete(table).where(*where).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

