"""customer_service: the retail store's tables, one store per tenant.

A fresh database gets the nine ``cs_`` tables. A database whose store tables were made by the app's
earlier ``create_all`` (no ``tenant_id``, keys on the bare dataset ids, no Alembic revision of this
branch) is converted in place: each old table is renamed aside, the new table is created, its rows
are copied into the ``default`` tenant's store (that tenant is created if missing) with their
surrogate ids kept, and the old tables are dropped. This is the copy-and-move of Alembic's batch
mode, done by hand for all nine tables together: the primary keys of the parent tables and the
foreign keys of their children change at once, which a one-table-at-a-time batch rebuild cannot do
while foreign keys are enforced. It runs unchanged on SQLite and PostgreSQL.

The schema is written out here (not imported from ``store.py``) so the revision stays what it was
when later code moves on; a test checks the two agree.

Revision ID: cs_0001_tenant_store
Revises:
Depends on: 0002_retrieval
"""
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "cs_0001_tenant_store"
down_revision = None
branch_labels = ("customer_service",)
depends_on = "0002_retrieval"

DEFAULT_TENANT = "default"  # moesaic.memory.keys.DEFAULT_TENANT when this revision was written
SET_ASIDE = "_pre_tenant"
NAMING_CONVENTION = {"pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(referred_table_name)s"}


def _tenant_id() -> sa.Column:
    return sa.Column("tenant_id", sa.String(32), nullable=False)


def _order_child(metadata: sa.MetaData, name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _tenant_id(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["tenant_id", "order_id"], ["cs_orders.tenant_id", "cs_orders.order_id"]),
        sa.Index(f"ix_{name}_tenant_order", "tenant_id", "order_id"),
    )


def store_schema() -> sa.MetaData:
    """The nine tables as this revision creates them, parents before children."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    sa.Table(
        "cs_addresses",
        metadata,
        _tenant_id(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("address1", sa.String(200), nullable=False),
        sa.Column("address2", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("country", sa.String(100), nullable=False),
        sa.Column("state", sa.String(100), nullable=False),
        sa.Column("zip", sa.String(20), nullable=False),
        sa.Index("ix_cs_addresses_tenant_id", "tenant_id"),
    )
    sa.Table(
        "cs_products",
        metadata,
        _tenant_id(),
        sa.Column("product_id", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "product_id"),
        sa.Index("ix_cs_products_tenant_position", "tenant_id", "position"),
    )
    sa.Table(
        "cs_users",
        metadata,
        _tenant_id(),
        sa.Column("user_id", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("address_id", sa.Integer, sa.ForeignKey("cs_addresses.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
        sa.Index("ix_cs_users_tenant_position", "tenant_id", "position"),
        sa.Index("ix_cs_users_tenant_email", "tenant_id", "email"),
    )
    sa.Table(
        "cs_variants",
        metadata,
        _tenant_id(),
        sa.Column("product_id", sa.String(50), nullable=False),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "product_id", "item_id"),
        sa.ForeignKeyConstraint(["tenant_id", "product_id"], ["cs_products.tenant_id", "cs_products.product_id"]),
        sa.Index("ix_cs_variants_tenant_item", "tenant_id", "item_id"),
    )
    sa.Table(
        "cs_payment_methods",
        metadata,
        _tenant_id(),
        sa.Column("user_id", sa.String(100), nullable=False),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("brand", sa.String(50), nullable=True),
        sa.Column("last_four", sa.String(4), nullable=True),
        sa.Column("balance", sa.Double, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["cs_users.tenant_id", "cs_users.user_id"]),
    )
    sa.Table(
        "cs_orders",
        metadata,
        _tenant_id(),
        sa.Column("order_id", sa.String(50), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(100), nullable=False),
        sa.Column("address_id", sa.Integer, sa.ForeignKey("cs_addresses.id"), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("cancel_reason", sa.String(100), nullable=True),
        sa.Column("exchange_items", sa.JSON, nullable=True),
        sa.Column("exchange_new_items", sa.JSON, nullable=True),
        sa.Column("exchange_payment_method_id", sa.String(100), nullable=True),
        sa.Column("exchange_price_difference", sa.Double, nullable=True),
        sa.Column("return_items", sa.JSON, nullable=True),
        sa.Column("return_payment_method_id", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "order_id"),
        sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["cs_users.tenant_id", "cs_users.user_id"]),
        sa.Index("ix_cs_orders_tenant_position", "tenant_id", "position"),
        sa.Index("ix_cs_orders_tenant_user", "tenant_id", "user_id"),
    )
    _order_child(
        metadata,
        "cs_order_items",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("product_id", sa.String(50), nullable=False),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("price", sa.Double, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
    )
    _order_child(
        metadata,
        "cs_fulfillments",
        sa.Column("tracking_ids", sa.JSON, nullable=False),
        sa.Column("item_ids", sa.JSON, nullable=False),
    )
    _order_child(
        metadata,
        "cs_payment_history",
        sa.Column("transaction_type", sa.String(20), nullable=False),
        sa.Column("amount", sa.Double, nullable=False),
        sa.Column("payment_method_id", sa.String(100), nullable=False),
    )
    return metadata


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = list(store_schema().tables.values())
    existing = {t.name for t in tables if inspector.has_table(t.name)}
    legacy = [t for t in tables if t.name in existing and not _has_tenant_id(inspector, t.name)]
    for table in legacy:
        _set_aside(bind, table)
    for table in tables:
        if table.name not in existing or table in legacy:
            table.create(bind)
    if not legacy:
        return
    tenant_id = _default_tenant_id(bind)
    for table in legacy:  # parents first, so every foreign key finds its row
        _copy_rows(bind, table, tenant_id)
    for table in reversed(legacy):  # children first
        op.drop_table(table.name + SET_ASIDE)


def downgrade() -> None:
    for table in reversed(list(store_schema().tables.values())):
        op.drop_table(table.name)


def _has_tenant_id(inspector: sa.Inspector, name: str) -> bool:
    return any(column["name"] == "tenant_id" for column in inspector.get_columns(name))


def _set_aside(bind: sa.Connection, table: sa.Table) -> None:
    """Rename the old table (and on PostgreSQL its serial sequence) out of the new one's way."""
    if bind.dialect.name == "postgresql" and "id" in table.c and table.c.id.autoincrement is True:
        sequence = bind.scalar(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name})
        if sequence:
            bind.execute(sa.text(f"ALTER SEQUENCE {sequence} RENAME TO {table.name}_id_seq{SET_ASIDE}"))
    op.rename_table(table.name, table.name + SET_ASIDE)


def _default_tenant_id(bind: sa.Connection) -> str:
    tenants = sa.table(
        "tenants", sa.column("id"), sa.column("name"), sa.column("created_at", sa.DateTime(timezone=True))
    )
    tenant_id = bind.scalar(sa.select(tenants.c.id).where(tenants.c.name == DEFAULT_TENANT))
    if tenant_id is None:
        tenant_id = uuid.uuid4().hex
        bind.execute(
            sa.insert(tenants).values(id=tenant_id, name=DEFAULT_TENANT, created_at=datetime.now(timezone.utc))
        )
    return str(tenant_id)


def _copy_rows(bind: sa.Connection, table: sa.Table, tenant_id: str) -> None:
    """Every row of the old table into the new one, in the default tenant's store, ids kept."""
    old = sa.Table(table.name + SET_ASIDE, sa.MetaData(), autoload_with=bind)
    names = [c.name for c in table.c if c.name != "tenant_id" and c.name in old.c]
    rows = sa.select(sa.literal(tenant_id, sa.String(32)), *(old.c[name] for name in names))
    bind.execute(sa.insert(table).from_select(["tenant_id", *names], rows))
    if bind.dialect.name == "postgresql" and "id" in table.c and table.c.id.autoincrement is True:
        bind.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )
