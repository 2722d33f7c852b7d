"""A database made by the code before revision 0003 upgrades in place: its keys keep working."""

from __future__ import annotations

import hashlib

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from moesaic.access import authenticate
from moesaic.db import MIGRATIONS_DIR, Database


def upgrade_to(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_keys_made_before_0003_keep_working_after_the_upgrade(fresh_database_url: str) -> None:
    db = Database(fresh_database_url)
    upgrade_to(db, "0002_retrieval")
    key = "msk-made-by-the-previous-release-0000"
    limited = "msk-limited-by-the-previous-release-1"
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t0', 'default', CURRENT_TIMESTAMP)"))
        connection.execute(
            text("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, apps, revoked_at, created_at) "
                 "VALUES ('k0', 't0', :hash, :prefix, 'bootstrap', NULL, NULL, CURRENT_TIMESTAMP)"),
            {"hash": hashlib.sha256(key.encode()).hexdigest(), "prefix": key[:8]},
        )
        connection.execute(
            text("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, apps, revoked_at, created_at) "
                 "VALUES ('k1', 't0', :hash, :prefix, 'crm', :apps, NULL, CURRENT_TIMESTAMP)"),
            {"hash": hashlib.sha256(limited.encode()).hexdigest(), "prefix": limited[:8], "apps": '["kb_assistant"]'},
        )
    db.migrate()
    assert {"accounts", "audit_log"} <= set(inspect(db.engine).get_table_names())
    assert "apps" not in inspect(db.engine).get_table_names()
    principal = authenticate(db, key)
    assert (principal.tenant_id, principal.id, principal.role, principal.apps) == ("t0", "k0", "admin", None)
    scoped = authenticate(db, limited)  # a limited key must not become an admin that can mint unlimited keys
    assert (scoped.role, scoped.apps) == ("operator", ("kb_assistant",))
    db.dispose()
