"""Alerts and the case queue: which scores become cases, and what investigators do with them.

Alert rules (``AlertSettings`` per tenant): ``budget`` (the default, the Handbook's setting): each day
the ``daily_budget`` cards (customers) with the highest score, among cards without a case already
labelled fraud, each card's highest-scoring transaction of the day opening a case (``run_budget``,
idempotent per day: cards already alerted that day count against the budget); ``threshold``: every
score at or above ``threshold`` opens a case when it is made (``maybe_open_on_score``).

Every change to a case (opened, assigned, note, status, label) appends a ``CaseEvent`` (the case's
trail) and a row of the platform's audit log (``moesaic.access.record``). A label (fraud or
legitimate) is stored on the transaction and in ``FraudLabel``, closes the case with that status and
goes into the feature state of the transaction's customer and terminal: the terminal's known fraud
rate counts it once it is visible (``delay`` days after the transaction).

Narratives: with a configured chat model (not the offline ``extractive`` one), two or three sentences
written from the reasons only, kept when every number in them appears in the facts given; otherwise
(offline, model error, an ungrounded number) a template.

Not here: HTTP (``routes``), scoring (``scoring``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from apps.fraud_detection.features.batch import to_seconds
from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.state_store import StoredState
from apps.fraud_detection.tables import (
    CASE_STATUSES, AlertSettings, CaseEvent, CaseNote, FraudCase, FraudLabel, FraudScore, FraudTransaction,
)
from moesaic.errors import Conflict, NotFound, UserError

log = logging.getLogger(__name__)
APP = "fraud_detection"
LABELS = {"fraud": 1, "legitimate": 0}
OFFLINE_MODELS = ("extractive",)


def get_settings(session: Session, tenant_id: str) -> AlertSettings:
    row = session.scalars(select(AlertSettings).where(AlertSettings.tenant_id == tenant_id)).first()
    if row is None:
        row = AlertSettings(tenant_id=tenant_id, mode="budget", daily_budget=100, threshold=0.5)
        session.add(row)
        session.flush()
    return row


def update_settings(session: Session, tenant_id: str, mode: str | None, daily_budget: int | None,
                    threshold: float | None) -> AlertSettings:
    row = get_settings(session, tenant_id)
    if mode is not None:
        if mode not in ("budget", "threshold"):
            raise UserError(f"mode must be budget or threshold (got {mode!r})", field="mode")
        row.mode = mode
    if daily_budget is not None:
        row.daily_budget = daily_budget
    if threshold is not None:
        row.threshold = threshold
    session.flush()
    return row


# ---- narrative -------------------------------------------------------------------------------------

def _facts(score: FraudScore, amount: float) -> str:
    reasons = "; ".join(r["text"] for r in score.reasons) or "no feature raised the score"
    return (f"transaction {score.transaction_id} of customer {score.customer_id} at terminal {score.terminal_id}, "
            f"amount {amount:,.2f}, on {score.tx_datetime:%Y-%m-%d %H:%M}, scored {score.score:.2f} by model "
            f"{score.model_version}; reasons: {reasons}")


def template_narrative(score: FraudScore, amount: float) -> str:
    reasons = score.reasons
    text = (f"Transaction {score.transaction_id} (customer {score.customer_id}, terminal {score.terminal_id}, "
            f"amount {amount:,.2f}, {score.tx_datetime:%Y-%m-%d %H:%M}) scored {score.score:.2f}.")
    if reasons:
        text += " Main reason: " + reasons[0]["text"] + "."
        if len(reasons) > 1:
            text += " Also: " + "; ".join(r["text"] for r in reasons[1:]) + "."
    return text


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def grounded(narrative: str, facts: str) -> bool:
    """Every number in the narrative appears in the facts (commas ignored)."""
    known = {n.replace(",", "") for n in _NUMBER.findall(facts)}
    return all(n.replace(",", "") in known for n in _NUMBER.findall(narrative))


def narrative_for(model: Any, score: FraudScore, amount: float) -> tuple[str, str]:
    """(text, source): ``model`` when a configured chat model wrote a grounded one, else ``template``."""
    if model is None or getattr(model, "name", "") in OFFLINE_MODELS:
        return template_narrative(score, amount), "template"
    from moesaic.llm import ModelRequest
    from moesaic.types import Message

    facts = _facts(score, amount)
    request = ModelRequest(messages=[
        Message(role="system", content="You write case notes for card fraud investigators. In at most three short "
                "sentences, say why this transaction was flagged, using only the facts given. Do not add numbers "
                "that are not in the facts."),
        Message(role="user", content=facts)], max_tokens=160)
    try:
        text = model.generate(request).content.strip()
    except Exception as exc:  # the case must open even when the model is down
        log.warning("case narrative: chat model failed (%s); using the template", exc)
        return template_narrative(score, amount), "template"
    if not text or not grounded(text, facts):
        return template_narrative(score, amount), "template"
    return text, "model"


# ---- opening cases -----------------------------------------------------------------------------------

def _event(session: Session, tenant_id: str, case_id: str, actor: str, action: str, **detail: Any) -> None:
    session.add(CaseEvent(tenant_id=tenant_id, case_id=case_id, actor=actor, action=action, detail=detail))


def open_case(session: Session, tenant_id: str, score: FraudScore, rule: str, chat_model: Any) -> FraudCase | None:
    """Open a case for a score (None when its transaction already has one)."""
    exists = session.scalars(select(FraudCase.id).where(FraudCase.tenant_id == tenant_id,
                                                        FraudCase.transaction_id == score.transaction_id)).first()
    if exists is not None:
        return None
    amount = session.scalar(select(FraudTransaction.amount_cents).where(
        FraudTransaction.tenant_id == tenant_id, FraudTransaction.transaction_id == score.transaction_id)) or 0
    text, source = narrative_for(chat_model, score, amount / 100.0)
    case = FraudCase(tenant_id=tenant_id, transaction_id=score.transaction_id, score_id=score.id,
                     customer_id=score.customer_id, terminal_id=score.terminal_id, day=score.day, score=score.score,
                     model_version=score.model_version, alert_rule=rule, status="open", narrative=text,
                     narrative_source=source)
    session.add(case)
    session.flush()
    _event(session, tenant_id, case.id, "moesaic", "opened", rule=rule, score=score.score)
    return case


_SELECT_RULE = select(AlertSettings.__table__.c.mode, AlertSettings.__table__.c.threshold).where(
    AlertSettings.__table__.c.tenant_id == bindparam("tenant"))


def maybe_open_on_score(session: Session, tenant_id: str, score_id: str, score_value: float,
                        chat_model: Any) -> FraudCase | None:
    """Threshold mode: open a case when the score reaches the threshold (budget mode, the default: nothing now)."""
    rule = session.execute(_SELECT_RULE, {"tenant": tenant_id}).first()
    if rule is None or rule.mode != "threshold" or score_value < rule.threshold:
        return None
    score = session.get(FraudScore, score_id)
    assert score is not None, f"score {score_id} is not stored"
    return open_case(session, tenant_id, score, f"threshold:{rule.threshold:g}", chat_model)


def run_budget(session: Session, tenant_id: str, day: str, chat_model: Any, k: int | None = None) -> list[FraudCase]:
    """Budget mode for one day: open cases for the top cards not yet alerted, up to ``k`` cards for the day."""
    k = k if k is not None else get_settings(session, tenant_id).daily_budget
    alerted_today = set(session.scalars(select(FraudCase.customer_id).where(
        FraudCase.tenant_id == tenant_id, FraudCase.day == day)))
    compromised = set(session.scalars(select(FraudCase.customer_id).where(
        FraudCase.tenant_id == tenant_id, FraudCase.status == "fraud", FraudCase.day < day)))
    room = k - len(alerted_today)
    if room <= 0:
        return []
    best: dict[int, FraudScore] = {}
    for score in session.scalars(select(FraudScore).where(FraudScore.tenant_id == tenant_id, FraudScore.day == day)
                                 .order_by(FraudScore.score.desc(), FraudScore.transaction_id)):
        card = int(score.customer_id)
        if card in alerted_today or card in compromised or card in best:
            continue
        best[card] = score
        if len(best) >= room:
            break
    opened = []
    for score in best.values():
        case = open_case(session, tenant_id, score, f"budget:{k}", chat_model)
        if case is not None:
            opened.append(case)
    return opened


# ---- the queue -------------------------------------------------------------------------------------

def get_case(session: Session, tenant_id: str, case_id: str) -> FraudCase:
    case = session.get(FraudCase, case_id)
    if case is None or case.tenant_id != tenant_id:
        raise NotFound(f"case {case_id!r} not found", field="case_id")
    return case


def list_cases(session: Session, tenant_id: str, *, status: str | None = None, assignee: str | None = None,
               day: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[FraudCase], int]:
    query = select(FraudCase).where(FraudCase.tenant_id == tenant_id)
    if status is not None:
        if status not in CASE_STATUSES:
            raise UserError(f"status must be one of {', '.join(CASE_STATUSES)} (got {status!r})", field="status")
        query = query.where(FraudCase.status == status)
    if assignee is not None:
        query = query.where(FraudCase.assignee == assignee)
    if day is not None:
        query = query.where(FraudCase.day == day)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.order_by(FraudCase.score.desc(), FraudCase.id).limit(limit).offset(offset)).all()
    return list(rows), total


def assign(session: Session, tenant_id: str, case_id: str, assignee: str | None, actor: str) -> FraudCase:
    case = get_case(session, tenant_id, case_id)
    before = case.assignee
    case.assignee = assignee
    if assignee and case.status == "open":
        case.status = "in_review"
    _event(session, tenant_id, case.id, actor, "assigned", before=before, after=assignee, status=case.status)
    session.flush()
    return case


def add_note(session: Session, tenant_id: str, case_id: str, text: str, actor: str) -> CaseNote:
    case = get_case(session, tenant_id, case_id)
    note = CaseNote(tenant_id=tenant_id, case_id=case.id, author=actor, text=text)
    session.add(note)
    session.flush()
    _event(session, tenant_id, case.id, actor, "note", note_id=note.id)
    return note


def set_status(session: Session, tenant_id: str, case_id: str, status: str, actor: str) -> FraudCase:
    """Move a case between open and in_review (fraud and legitimate come only with a label)."""
    if status not in ("open", "in_review"):
        raise UserError("status can be set to open or in_review; fraud and legitimate come with a label "
                        f"(POST .../label) (got {status!r})", field="status")
    case = get_case(session, tenant_id, case_id)
    before, case.status = case.status, status
    _event(session, tenant_id, case.id, actor, "status", before=before, after=status)
    session.flush()
    return case


def _transaction_of(session: Session, tenant_id: str, case: FraudCase) -> FraudTransaction | None:
    """The case's stored transaction (None once it is no longer stored)."""
    return session.scalars(select(FraudTransaction).where(FraudTransaction.tenant_id == tenant_id,
                                                          FraudTransaction.transaction_id == case.transaction_id)).first()


def label_case(session: Session, tenant_id: str, case_id: str, label: str, actor: str,
               config: FeatureConfig | None = None) -> FraudCase:
    """Store an investigator's label: transaction, label history, case status, feature state."""
    if label not in LABELS:
        raise UserError(f"label must be fraud or legitimate (got {label!r})", field="label")
    case = get_case(session, tenant_id, case_id)
    if case.status in LABELS and case.status != label:
        log.info("case %s relabelled from %s to %s by %s", case_id, case.status, label, actor)
    value = LABELS[label]
    tx = _transaction_of(session, tenant_id, case)
    if tx is None:
        raise Conflict(f"case {case_id}: its transaction {case.transaction_id} is no longer stored", field="case_id")
    tx.label, tx.label_source = value, "investigator"
    session.add(FraudLabel(tenant_id=tenant_id, transaction_id=tx.transaction_id, label=value, source="investigator",
                           case_id=case.id, given_by=actor))
    state = StoredState(session, tenant_id, config or FeatureConfig())
    state.load([int(tx.customer_id)], [int(tx.terminal_id)])
    t = int(to_seconds(np.array([tx.tx_datetime], dtype="datetime64[ns]"))[0])
    state.set_label(int(tx.transaction_id), t, int(tx.customer_id), int(tx.terminal_id), value)
    state.save()
    before, case.status = case.status, label
    _event(session, tenant_id, case.id, actor, "labelled", label=label, before=before)
    session.flush()
    return case


def case_detail(session: Session, tenant_id: str, case_id: str) -> dict[str, Any]:
    """The case with its transaction, score, notes, trail, and the customer's and terminal's recent history."""
    case = get_case(session, tenant_id, case_id)
    score = session.get(FraudScore, case.score_id)
    tx = _transaction_of(session, tenant_id, case)
    notes = session.scalars(select(CaseNote).where(CaseNote.tenant_id == tenant_id, CaseNote.case_id == case.id)
                            .order_by(CaseNote.created_at, CaseNote.id)).all()
    events = session.scalars(select(CaseEvent).where(CaseEvent.tenant_id == tenant_id, CaseEvent.case_id == case.id)
                             .order_by(CaseEvent.id)).all()

    def recent(column: Any, entity: int) -> list[dict[str, Any]]:
        if tx is None:
            return []
        rows = session.scalars(select(FraudTransaction).where(FraudTransaction.tenant_id == tenant_id, column == entity,
                                                              FraudTransaction.tx_datetime <= tx.tx_datetime)
                               .order_by(FraudTransaction.tx_datetime.desc()).limit(50)).all()
        return [{"TRANSACTION_ID": int(r.transaction_id), "TX_DATETIME": r.tx_datetime.isoformat(),
                 "TX_AMOUNT": r.amount_cents / 100.0, "label": int(r.label)} for r in reversed(rows)]

    return {"case": case, "score": score, "transaction": tx, "notes": list(notes), "events": list(events),
            "customer_history": recent(FraudTransaction.customer_id, int(case.customer_id)),
            "terminal_history": recent(FraudTransaction.terminal_id, int(case.terminal_id))}
