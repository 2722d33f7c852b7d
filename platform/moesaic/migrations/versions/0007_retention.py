"""Retention policies per tenant and app.

Revision ID: 0007_retention
Revises: 0006_chat_turns
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_retention"
down_revision = "0006_chat_turns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("conversation_days", sa.Integer(), nullable=True),
        sa.Column("job_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "app", name="uq_retention_policies_tenant_app"),
    )
    op.create_index("ix_retention_policies_tenant_id", "retention_policies", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_retention_policies_tenant_id", table_name="retention_policies")
    op.drop_table("retention_policies")
