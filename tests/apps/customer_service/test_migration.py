"""The app's Alembic branch: a fresh database gets the store as ``store.py`` declares it, and a database
made by the pre-tenancy code (``create_all`` tables with rows, no revision of this branch) upgrades in
place, every row landing in the ``default`` tenant's store. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from apps.customer_service import tools
from apps.customer_service.export import export_store
from apps.customer_service.manifest import APP, setup
from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data
from apps.customer_service.store import StoreBase
from moesaic.apps import ToolContext
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.access import authenticate, create_api_key, ensure_tenant
from tests.apps.customer_service.conftest import call
from tests.apps.customer_service.legacy_store import create_legacy_store

STORE_REVISION = "cs_0001_tenant_store"


def _schema_differences(db: Database) -> list[Any]:
    """What autogenerate would change to make the database's cs_ tables match ``StoreBase.metadata``."""

    def only_store(name: str | None, type_: str, parent: Any) -> bool:
        return type_ != "table" or bool(name and name.startswith("cs_"))

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": only_store, "compare_type": True})
        return list(compare_metadata(context, StoreBase.metadata))


def _revisions(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _tenant_of(db: Database, name: str) -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM tenants WHERE name = :name"), {"name": name}).scalar()


def _context(db: Database, settings: Settings, services: dict[str, Any], tenant_id: str) -> ToolContext:
    return ToolContext(tenant_id, "c1", "customer_service", db, settings, services=services)


def test_a_fresh_database_gets_the_store_tables_the_models_declare(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    db.migrate(version_locations=[APP.migrations])
    assert STORE_REVISION in _revisions(db)
    assert {t for t in inspect(db.engine).get_table_names() if t.startswith("cs_")} == set(StoreBase.metadata.tables)
    assert _schema_differences(db) == []
    heads = _revisions(db)
    db.migrate(version_locations=[APP.migrations])  # at heads: nothing to do
    assert _revisions(db) == heads
    db.dispose()


@pytest.mark.parametrize("had_default_tenant", [True, False])
def test_a_store_made_by_the_old_code_upgrades_into_the_default_tenant(
    fresh_database_url: str, tmp_path: Path, had_default_tenant: bool
) -> None:
    data = load_store_data(DEMO_STORE_PATH)
    db = Database(fresh_database_url)
    db.migrate()  # yesterday's Platform.create: the core revisions only ...
    key = create_api_key(db, name="old key") if had_default_tenant else None
    counts = create_legacy_store(db.engine, data)  # ... and the app's setup: create_all, then the seed
    assert counts["cs_orders"] == 4 and counts["cs_order_items"] > 0
    assert STORE_REVISION not in _revisions(db)

    db.migrate(version_locations=[APP.migrations])

    heads = _revisions(db)
    assert STORE_REVISION in heads
    tenant_id = _tenant_of(db, "default")
    assert tenant_id is not None
    with db.engine.connect() as connection:
        for name, table in StoreBase.metadata.tables.items():
            rows = connection.execute(select(table.c.tenant_id, func.count()).group_by(table.c.tenant_id)).all()
            assert [tuple(row) for row in rows] == ([(tenant_id, counts[name])] if counts[name] else []), name
        assert json.dumps(export_store(connection, tenant_id)) == json.dumps(data)  # every value, in file order
    assert not [t for t in inspect(db.engine).get_table_names() if t.endswith("_pre_tenant")]
    assert _schema_differences(db) == []
    if key is not None:
        assert authenticate(db, key).tenant_id == tenant_id

    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "no-data")
    services = setup(db, settings)
    default = _context(db, settings, services, tenant_id)
    assert call(tools.find_user_id_by_email, default, email="ada.lane@example.com").output == "ada_lane_1001"
    cancelled = call(tools.cancel_pending_order, default, order_id="#W1000001", reason="no longer needed")
    assert cancelled.error is None  # new payment-history rows: the id sequences continue after the copied rows
    assert [t["transaction_type"] for t in cancelled.value["payment_history"]] == ["payment", "refund"]
    acme = _context(db, settings, services, ensure_tenant(db, "acme"))
    assert call(tools.get_order_details, acme, order_id="#W1000001").value["status"] == "pending"  # its own store

    db.migrate(version_locations=[APP.migrations])  # at heads: nothing to do
    assert _revisions(db) == heads
    db.dispose()
