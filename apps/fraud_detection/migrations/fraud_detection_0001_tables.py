"""fraud_detection: transactions, feature state, scores, cases (notes, events), labels, alert settings.

Revision ID: fraud_detection_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "fraud_detection_0001"
down_revision = None
branch_labels = ("fraud_detection",)
depends_on = "0005_models"

P = "fraud_detection_"


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(length=32), nullable=False)


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        P + "transactions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_datetime", sa.DateTime(timezone=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("label_source", sa.String(length=20), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "transaction_id", name="uq_fraud_detection_transactions_id"),
    )
    op.create_index("ix_fraud_detection_transactions_tenant_id", P + "transactions", ["tenant_id"])
    op.create_index("ix_fraud_detection_transactions_time", P + "transactions", ["tenant_id", "tx_datetime"])

    op.create_table(
        P + "feature_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "kind", "entity_id", name="uq_fraud_detection_feature_state_entity"),
    )
    op.create_index("ix_fraud_detection_feature_state_tenant_id", P + "feature_state", ["tenant_id"])

    op.create_table(
        P + "scores",
        sa.Column("id", sa.String(length=32), primary_key=True),
        _tenant(),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_datetime", sa.DateTime(timezone=False), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        _created(),
    )
    op.create_index("ix_fraud_detection_scores_tenant_id", P + "scores", ["tenant_id"])
    op.create_index("ix_fraud_detection_scores_transaction_id", P + "scores", ["transaction_id"])
    op.create_index("ix_fraud_detection_scores_day", P + "scores", ["tenant_id", "day", "score"])

    op.create_table(
        P + "cases",
        sa.Column("id", sa.String(length=32), primary_key=True),
        _tenant(),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("score_id", sa.String(length=32), sa.ForeignKey(P + "scores.id"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("terminal_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("alert_rule", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("narrative_source", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _created(),
        sa.UniqueConstraint("tenant_id", "transaction_id", name="uq_fraud_detection_cases_transaction"),
    )
    op.create_index("ix_fraud_detection_cases_tenant_id", P + "cases", ["tenant_id"])
    op.create_index("ix_fraud_detection_cases_day", P + "cases", ["day"])
    op.create_index("ix_fraud_detection_cases_queue", P + "cases", ["tenant_id", "status", "score"])

    op.create_table(
        P + "case_notes",
        sa.Column("id", sa.String(length=32), primary_key=True),
        _tenant(),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey(P + "cases.id"), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _created(),
    )
    op.create_index("ix_fraud_detection_case_notes_tenant_id", P + "case_notes", ["tenant_id"])
    op.create_index("ix_fraud_detection_case_notes_case_id", P + "case_notes", ["case_id"])

    op.create_table(
        P + "case_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("case_id", sa.String(length=32), sa.ForeignKey(P + "cases.id"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _created(),
    )
    op.create_index("ix_fraud_detection_case_events_tenant_id", P + "case_events", ["tenant_id"])
    op.create_index("ix_fraud_detection_case_events_case_id", P + "case_events", ["case_id"])

    op.create_table(
        P + "labels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("given_by", sa.String(length=200), nullable=False),
        _created(),
    )
    op.create_index("ix_fraud_detection_labels_tenant_id", P + "labels", ["tenant_id"])
    op.create_index("ix_fraud_detection_labels_transaction_id", P + "labels", ["transaction_id"])

    op.create_table(
        P + "alert_settings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("daily_budget", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.UniqueConstraint("tenant_id", name="uq_fraud_detection_alert_settings_tenant"),
    )
    op.create_index("ix_fraud_detection_alert_settings_tenant_id", P + "alert_settings", ["tenant_id"])


def downgrade() -> None:
    for name in ("alert_settings", "labels", "case_events", "case_notes", "cases", "scores", "feature_state", "transactions"):
        op.drop_table(P + name)
