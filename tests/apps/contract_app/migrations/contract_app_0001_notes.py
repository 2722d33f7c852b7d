"""contract_app: the notes table.

Revision ID: contract_app_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "contract_app_0001"
down_revision = None
branch_labels = ("contract_app",)
depends_on = "0002_retrieval"


def upgrade() -> None:
    op.create_table(
        "contract_app_notes",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_contract_app_notes_tenant_id", "contract_app_notes", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_contract_app_notes_tenant_id", table_name="contract_app_notes")
    op.drop_table("contract_app_notes")
