"""The answer cache: cached generated answers, operators' pinned answers, and a metadata column on messages
(a message served from the cache says so there).

Revision ID: 0008_answers
Revises: 0007_retention
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_answers"
down_revision = "0007_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_cache_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("knowledge_base", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=True),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("model_seconds", sa.Float(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_answer_cache_entries_tenant_id", "answer_cache_entries", ["tenant_id"])
    op.create_index("ix_answer_cache_entries_conversation_id", "answer_cache_entries", ["conversation_id"])
    op.create_index("ix_answer_cache_scope", "answer_cache_entries", ["tenant_id", "app", "knowledge_base", "version"])
    op.create_table(
        "pinned_answers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "app", "question_key", name="uq_pinned_answers_question"),
    )
    op.create_index("ix_pinned_answers_tenant_id", "pinned_answers", ["tenant_id"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("metadata")
    op.drop_index("ix_pinned_answers_tenant_id", table_name="pinned_answers")
    op.drop_table("pinned_answers")
    op.drop_index("ix_answer_cache_scope", table_name="answer_cache_entries")
    op.drop_index("ix_answer_cache_entries_conversation_id", table_name="answer_cache_entries")
    op.drop_index("ix_answer_cache_entries_tenant_id", table_name="answer_cache_entries")
    op.drop_table("answer_cache_entries")
