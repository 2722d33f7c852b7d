"""Key lifecycle: salted storage, legacy keys rehashed on use, revocation, expiry, rotation, last use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from moesaic.access import authenticate, create_api_key, ensure_tenant, issue_key, revoke_key, rotate_key
from moesaic.access.tables import ApiKey
from moesaic.db import Database, utcnow
from moesaic.errors import Unauthorized


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def test_keys_are_stored_salted_and_never_in_plaintext(db: Database) -> None:
    one = create_api_key(db, "t1", name="a")
    two = create_api_key(db, "t1", name="b")
    with db.session() as session:
        rows = session.scalars(select(ApiKey)).all()
    assert len({row.salt for row in rows}) == 2
    for row, key in zip(sorted(rows, key=lambda r: r.name), (one, two)):
        assert row.hash_scheme == "salted-sha256"
        assert row.key_hash != hashlib.sha256(key.encode()).hexdigest() and key not in row.key_hash
    assert authenticate(db, one).name == "a" and authenticate(db, two).name == "b"


def test_a_legacy_unsalted_key_works_and_is_rehashed_on_first_use(db: Database) -> None:
    tenant = ensure_tenant(db, "legacy")
    key = "msk-legacy-key-made-by-old-code"
    with db.session() as session:
        session.add(ApiKey(tenant_id=tenant, key_hash=hashlib.sha256(key.encode()).hexdigest(), salt=None,
                           hash_scheme="sha256", prefix=key[:8], name="old", role="admin"))
    assert authenticate(db, key).role == "admin"
    with db.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "old"))
    assert row.hash_scheme == "salted-sha256" and row.salt and row.prefix == key[:12]
    assert authenticate(db, key).tenant_id == tenant  # still works after the rehash
    with pytest.raises(Unauthorized):
        authenticate(db, key + "x")


def test_revoked_and_expired_keys_get_401_at_once(db: Database) -> None:
    tenant = ensure_tenant(db, "t")
    key, info = issue_key(db, tenant, name="soon revoked")
    assert authenticate(db, key).id == info.id
    revoke_key(db, tenant, info.id)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(db, key)
    expired, _ = issue_key(db, tenant, expires_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(db, expired)


def test_rotation_gives_a_new_key_with_the_same_grants_and_retires_the_old(db: Database) -> None:
    tenant = ensure_tenant(db, "t")
    old, info = issue_key(db, tenant, name="ci", role="viewer", apps=["kb_assistant"])
    new, new_info = rotate_key(db, tenant, info.id)
    principal = authenticate(db, new)
    assert (principal.name, principal.role, principal.apps) == ("ci", "viewer", ("kb_assistant",))
    assert new_info.id != info.id
    with pytest.raises(Unauthorized):
        authenticate(db, old)
    graced, graced_info = issue_key(db, tenant, name="graced")
    rotate_key(db, tenant, graced_info.id, grace_seconds=3600)
    assert authenticate(db, graced).name == "graced"  # still valid during the grace period


def test_last_used_is_recorded(db: Database) -> None:
    tenant = ensure_tenant(db, "t")
    key, info = issue_key(db, tenant)
    assert info.last_used_at is None
    authenticate(db, key)
    with db.session() as session:
        assert session.get(ApiKey, info.id).last_used_at is not None
