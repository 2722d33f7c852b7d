"""The fraud app's tables, every one tenant-scoped (``TenantScoped``); created by ``migrations/``.

- ``FraudTransaction``: every stored transaction (API, import, scoring), with its current label
  (-1 unknown, 0 legitimate, 1 fraud) and where the label came from.
- ``FeatureStateRow``: per customer and per terminal, the recent history online features read
  (``features.online.EntityHistory`` as JSON: times, ids, amounts in cents, labels within the horizon).
- ``FraudScore``: one score of one transaction: calibrated probability, model version, reasons, features.
- ``FraudCase``, ``CaseNote``, ``CaseEvent``: alerts become cases; notes; the case's audit trail.
- ``FraudLabel``: every label given (investigator or imported), oldest first; the transaction keeps the latest.
- ``AlertSettings``: per tenant, daily budget (top-k cards per day) or threshold.

Model versions live in the platform's registry (``moesaic.models``: candidate/active/retired, promote,
rollback), not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TenantScoped, TimestampMixin, new_id, utcnow

PREFIX = "fraud_detection_"
CASE_STATUSES = ("open", "in_review", "fraud", "legitimate")


class FraudTransaction(TenantScoped, TimestampMixin, Base):
    __tablename__ = PREFIX + "transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "transaction_id", name="uq_fraud_detection_transactions_id"),
        Index("ix_fraud_detection_transactions_time", "tenant_id", "tx_datetime"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tx_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)  # naive UTC
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    terminal_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    label: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=-1)
    label_source: Mapped[str] = mapped_column(String(20), nullable=False, default="")  # import | api | investigator


class FeatureStateRow(TenantScoped, Base):
    __tablename__ = PREFIX + "feature_state"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "entity_id", name="uq_fraud_detection_feature_state_entity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # customer | terminal
    entity_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    history: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False)


class FraudScore(TenantScoped, TimestampMixin, Base):
    __tablename__ = PREFIX + "scores"
    __table_args__ = (Index("ix_fraud_detection_scores_day", "tenant_id", "day", "score"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    terminal_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tx_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    day: Mapped[str] = mapped_column(String(10), nullable=False)  # YYYY-MM-DD of the transaction
    score: Mapped[float] = mapped_column(Float, nullable=False)
    model_version: Mapped[str] = mapped_column(String(100), nullable=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="api")


class FraudCase(TenantScoped, TimestampMixin, Base):
    __tablename__ = PREFIX + "cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "transaction_id", name="uq_fraud_detection_cases_transaction"),
        Index("ix_fraud_detection_cases_queue", "tenant_id", "status", "score"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    transaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    score_id: Mapped[str] = mapped_column(String(32), ForeignKey(PREFIX + "scores.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    terminal_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    day: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    model_version: Mapped[str] = mapped_column(String(100), nullable=False)
    alert_rule: Mapped[str] = mapped_column(String(40), nullable=False)  # budget:k | threshold:t
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    narrative: Mapped[str] = mapped_column(Text, nullable=False, default="")
    narrative_source: Mapped[str] = mapped_column(String(20), nullable=False, default="template")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False)


class CaseNote(TenantScoped, TimestampMixin, Base):
    __tablename__ = PREFIX + "case_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey(PREFIX + "cases.id"), nullable=False, index=True)
    author: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)


class CaseEvent(TenantScoped, TimestampMixin, Base):
    """The case's audit trail: opened, assigned, note, status, labelled (never updated)."""

    __tablename__ = PREFIX + "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), ForeignKey(PREFIX + "cases.id"), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class FraudLabel(TenantScoped, TimestampMixin, Base):
    __tablename__ = PREFIX + "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    label: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    given_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")


class AlertSettings(TenantScoped, Base):
    __tablename__ = PREFIX + "alert_settings"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_fraud_detection_alert_settings_tenant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(10), nullable=False, default="budget")  # budget | threshold
    daily_budget: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    threshold: Mapped[float] = mapped_column(Float, nullable=False, default=0.5)


TABLES = (FraudTransaction, FeatureStateRow, FraudScore, FraudCase, CaseNote, CaseEvent, FraudLabel, AlertSettings)
