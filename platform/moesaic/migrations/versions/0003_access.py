"""Access: key lifecycle (salted hashes, roles, expiry, last use), console accounts, the audit log;
the unused tenant-less ``apps`` table goes.

Existing keys keep working: unlimited keys get the ``admin`` role (they could do everything before),
keys limited to some apps the ``operator`` role; all get the ``sha256`` scheme and are rehashed with a
salt on their next use.

Revision ID: 0003_access
Revises: 0002_retrieval
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_access"
down_revision = "0002_retrieval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("apps", sa.JSON(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "username", name="uq_accounts_tenant_username"),
    )
    op.create_index("ix_accounts_tenant_id", "accounts", ["tenant_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("salt", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("hash_scheme", sa.String(length=20), nullable=False, server_default="sha256"))
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("account_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rotated_from", sa.String(length=32), nullable=True))
        batch.create_foreign_key("fk_api_keys_account_id", "accounts", ["account_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_api_keys_prefix", ["prefix"])
        batch.create_index("ix_api_keys_account_id", ["account_id"])
    # an old key limited to some apps becomes an operator: an admin role would let it mint unlimited keys
    op.execute("UPDATE api_keys SET role = 'operator' WHERE apps IS NOT NULL AND CAST(apps AS TEXT) <> 'null'")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("principal_kind", sa.String(length=20), nullable=False),
        sa.Column("principal_name", sa.String(length=200), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant_id"])
    op.create_index("ix_audit_log_tenant_created", "audit_log", ["tenant_id", "created_at"])
    op.drop_table("apps")


def downgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.drop_index("ix_audit_log_tenant_created", table_name="audit_log")
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_account_id")
        batch.drop_index("ix_api_keys_prefix")
        batch.drop_constraint("fk_api_keys_account_id", type_="foreignkey")
        for column in ("rotated_from", "last_used_at", "expires_at", "account_id", "role", "hash_scheme", "salt"):
            batch.drop_column(column)
    op.drop_index("ix_accounts_tenant_id", table_name="accounts")
    op.drop_table("accounts")
