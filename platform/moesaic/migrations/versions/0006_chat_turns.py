"""One turn at a time per conversation, and idempotent chat requests.

``conversations.turn_holder`` / ``turn_renewed_at`` hold the running turn (taken with one atomic UPDATE);
``chat_requests`` remembers each ``Idempotency-Key`` with what its first request did.

Revision ID: 0006_chat_turns
Revises: 0005_models
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_chat_turns"
down_revision = "0005_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("turn_holder", sa.String(length=32), nullable=True))
    op.add_column("conversations", sa.Column("turn_renewed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "chat_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("base_seq", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "principal_id", "idempotency_key", name="uq_chat_requests_key"),
    )
    op.create_index("ix_chat_requests_tenant_id", "chat_requests", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_chat_requests_tenant_id", table_name="chat_requests")
    op.drop_table("chat_requests")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("turn_renewed_at")
        batch.drop_column("turn_holder")
