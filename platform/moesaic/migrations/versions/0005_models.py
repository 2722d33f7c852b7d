"""Model versions: the trained artefacts of apps, per tenant, with the one that is active.

Revision ID: 0005_models
Revises: 0004_jobs
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_models"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("uri", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_by", sa.String(length=200), nullable=False),
        sa.Column("previous_active", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "app", "name", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_tenant_id", "model_versions", ["tenant_id"])
    op.create_index("ix_model_versions_lookup", "model_versions", ["tenant_id", "app", "name", "status"])


def downgrade() -> None:
    op.drop_index("ix_model_versions_lookup", table_name="model_versions")
    op.drop_index("ix_model_versions_tenant_id", table_name="model_versions")
    op.drop_table("model_versions")
