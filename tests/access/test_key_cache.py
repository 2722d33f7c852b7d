"""The in-process memory of verified keys: a key is remembered for its TTL and no longer, never past its own
expiry; a revocation, rotation, account disabling or erasure committed in this process takes effect at the
next request; a change by another process (here: raw SQL, which the ORM does not see) within the TTL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, text

from moesaic.access import authenticate, create_account, disable_account, ensure_tenant, issue_key, revoke_key, rotate_key, sign_in
from moesaic.access.key_cache import KEY_CACHE
from moesaic.access.tables import ApiKey
from moesaic.db import Database, utcnow
from moesaic.errors import Unauthorized

LONG = 60.0


@pytest.fixture
def db(fresh_database_url: str) -> Database:
    """A database of its own (the session's shared PostgreSQL one is counted by other key tests)."""
    database = Database(fresh_database_url)
    database.migrate()
    yield database
    database.dispose()


def _delete_behind_the_orm(db: Database, key_id: str) -> None:
    """What another process's change looks like to this one: no ORM event fires here."""
    with db.session() as session:
        session.execute(text("DELETE FROM api_keys WHERE id = :id"), {"id": key_id})


def test_a_verified_key_is_remembered_for_its_ttl_and_no_longer(db: Database) -> None:
    tenant = ensure_tenant(db, "cache-ttl")
    key, info = issue_key(db, tenant, name="remembered")
    assert authenticate(db, key, cache_seconds=0.5).id == info.id
    _delete_behind_the_orm(db, info.id)
    with pytest.raises(Unauthorized):
        authenticate(db, key)  # without the memory: the database says no at once
    assert authenticate(db, key, cache_seconds=0.5).id == info.id  # remembered: another process's change waits
    time.sleep(0.6)
    with pytest.raises(Unauthorized):
        authenticate(db, key, cache_seconds=0.5)
    with pytest.raises(Unauthorized):  # a refused key is not remembered either
        authenticate(db, key, cache_seconds=0.5)


def test_changes_committed_in_this_process_take_effect_at_the_next_request(db: Database) -> None:
    tenant = ensure_tenant(db, "cache-changes")
    revoked, revoked_info = issue_key(db, tenant, name="revoked")
    rotated, rotated_info = issue_key(db, tenant, name="rotated")
    erased, _ = issue_key(db, tenant, name="erased")
    stamped, _ = issue_key(db, tenant, name="stays")
    for key in (revoked, rotated, erased, stamped):
        authenticate(db, key, cache_seconds=LONG)

    revoke_key(db, tenant, revoked_info.id)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(db, revoked, cache_seconds=LONG)
    new, _ = rotate_key(db, tenant, rotated_info.id)
    with pytest.raises(Unauthorized):
        authenticate(db, rotated, cache_seconds=LONG)
    assert authenticate(db, new, cache_seconds=LONG).name == "rotated"
    with db.session() as session:  # a tenant's erasure deletes its rows in bulk
        session.execute(delete(ApiKey).where(ApiKey.name == "erased").execution_options(synchronize_session=False))
    with pytest.raises(Unauthorized):
        authenticate(db, erased, cache_seconds=LONG)

    create_account(db, tenant, "ana", "a long password 1")
    session_key, account, _ = sign_in(db, tenant, "ana", "a long password 1")
    assert authenticate(db, session_key, cache_seconds=LONG).id == account.id
    disable_account(db, tenant, account.id)
    with pytest.raises(Unauthorized, match="disabled"):
        authenticate(db, session_key, cache_seconds=LONG)
    assert authenticate(db, stamped, cache_seconds=LONG).name == "stays"


def test_a_remembered_key_is_not_served_past_its_own_expiry(db: Database) -> None:
    tenant = ensure_tenant(db, "cache-expiry")
    key, _ = issue_key(db, tenant, expires_at=utcnow() + timedelta(seconds=1))
    assert authenticate(db, key, cache_seconds=LONG).tenant_id == tenant
    time.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(db, key, cache_seconds=LONG)


def test_a_key_read_before_a_clear_is_not_remembered_after_it(db: Database) -> None:
    tenant = ensure_tenant(db, "cache-race")
    key, info = issue_key(db, tenant)
    principal = authenticate(db, key)
    read_at = KEY_CACHE.generation
    KEY_CACHE.clear()  # a revocation committed while the key's row was being read
    KEY_CACHE.put(db.url, key, principal, ttl_s=LONG, expires_at=None, now=utcnow(), generation=read_at)
    assert KEY_CACHE.get(db.url, key) is None
    KEY_CACHE.put(db.url, key, principal, ttl_s=LONG, expires_at=None, now=utcnow(), generation=KEY_CACHE.generation)
    assert KEY_CACHE.get(db.url, key) == principal
    assert KEY_CACHE.get(db.url + "-elsewhere", key) is None  # remembered per database
