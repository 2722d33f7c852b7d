"""Tenants and API keys: create, authenticate, list, revoke, rotate.

A key is ``msk-`` plus 43 random characters, shown once. The database keeps its first 12 characters
(to find it) and a salted SHA-256 of the whole key (to check it). Keys made before revision 0003 were
stored as an unsalted SHA-256: they still work and are rehashed on their next use. ``last_used_at``
is written at most once a minute per key, so authentication stays a read on the hot path; with
``cache_seconds`` (the gate passes ``MOESAIC_KEY_CACHE_SECONDS``) a verified key is remembered that long
in the process (``key_cache``); a committed change of a key or account in this process forgets it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from moesaic.access.key_cache import KEY_CACHE
from moesaic.access.principal import ROLES, Principal
from moesaic.access.tables import Account, ApiKey
from moesaic.db import Database, utcnow
from moesaic.errors import NotFound, Unauthorized, UserError
from moesaic.memory.tables import Tenant

DEFAULT_TENANT = "default"
KEY_PREFIX = "msk-"
LOOKUP_CHARS = 12
LAST_USED_EVERY = timedelta(seconds=60)


def legacy_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def salted_hash(plaintext: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + plaintext.encode()).hexdigest()


def ensure_tenant(db: Database, name: str = DEFAULT_TENANT) -> str:
    """The id of tenant ``name``, created if missing."""
    with db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.name == name))
        if tenant is None:
            tenant = Tenant(name=name)
            session.add(tenant)
            session.flush()
        return tenant.id


def find_tenant(db: Database, name: str) -> str | None:
    """The id of tenant ``name``, or None (never creates one)."""
    with db.session() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == name))


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key (never its secret)."""

    id: str
    name: str
    prefix: str
    role: str
    apps: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> "KeyInfo":
        return cls(row.id, row.name, row.prefix, row.role, row.apps, row.created_at, row.expires_at, row.revoked_at, row.last_used_at)

    def to_dict(self) -> dict[str, Any]:
        stamp = lambda value: value.isoformat() if value else None  # noqa: E731
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "role": self.role, "apps": self.apps,
                "created_at": stamp(self.created_at), "expires_at": stamp(self.expires_at),
                "revoked_at": stamp(self.revoked_at), "last_used_at": stamp(self.last_used_at)}


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}", field="role")


def new_key_row(tenant_id: str, plaintext: str, **values: Any) -> ApiKey:
    salt = secrets.token_hex(16)
    return ApiKey(tenant_id=tenant_id, key_hash=salted_hash(plaintext, salt), salt=salt, hash_scheme="salted-sha256",
                  prefix=plaintext[:LOOKUP_CHARS], **values)


def issue_key(
    db: Database,
    tenant_id: str,
    *,
    name: str = "",
    role: str = "operator",
    apps: list[str] | None = None,
    expires_at: datetime | None = None,
    plaintext: str | None = None,
    rotated_from: str | None = None,
) -> tuple[str, KeyInfo]:
    """Create a key in ``tenant_id``; returns the plaintext (shown once) and what may be shown later."""
    _check_role(role)
    plaintext = plaintext or KEY_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        row = new_key_row(tenant_id, plaintext, name=name, role=role, apps=apps, expires_at=expires_at, rotated_from=rotated_from)
        session.add(row)
        session.flush()
        return plaintext, KeyInfo.of(row)


def create_api_key(
    db: Database,
    tenant: str = DEFAULT_TENANT,
    *,
    name: str = "",
    apps: list[str] | None = None,
    role: str = "operator",
    plaintext: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a key for tenant ``tenant`` (by name; created if missing) and return its plaintext.

    With a given ``plaintext`` that already authenticates (the bootstrap key at every start), nothing
    is created.
    """
    tenant_id = ensure_tenant(db, tenant)
    if plaintext is not None and _find(db, plaintext) is not None:
        return plaintext
    return issue_key(db, tenant_id, name=name, role=role, apps=apps, expires_at=expires_at, plaintext=plaintext)[0]


def _find(db: Database, plaintext: str) -> ApiKey | None:
    """The key row whose secret is ``plaintext`` (revoked or not), upgrading a legacy hash in place."""
    with db.session() as session:
        rows = session.scalars(
            select(ApiKey).where(or_(ApiKey.prefix == plaintext[:LOOKUP_CHARS], ApiKey.key_hash == legacy_hash(plaintext)))
        ).all()
        for row in rows:
            if row.hash_scheme == "sha256" and hmac.compare_digest(row.key_hash, legacy_hash(plaintext)):
                salt = secrets.token_hex(16)
                row.salt, row.key_hash, row.hash_scheme = salt, salted_hash(plaintext, salt), "salted-sha256"
                row.prefix = plaintext[:LOOKUP_CHARS]
                session.flush()
                return row
            if row.salt and hmac.compare_digest(row.key_hash, salted_hash(plaintext, row.salt)):
                return row
    return None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite hands back naive UTC
        from datetime import timezone

        return value.replace(tzinfo=timezone.utc)
    return value


def authenticate(db: Database, plaintext: str, *, cache_seconds: float = 0.0) -> Principal:
    """The principal behind a key; 401 when it is unknown, revoked, expired or its account is disabled.

    With ``cache_seconds`` > 0 a key verified within that time (and not revoked, rotated or disabled in
    this process since) is answered from memory (``key_cache``)."""
    if cache_seconds > 0 and (remembered := KEY_CACHE.get(db.url, plaintext)) is not None:
        return remembered
    generation = KEY_CACHE.generation
    row = _find(db, plaintext)
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("invalid API key (unknown or revoked)")
    expires = _aware(row.expires_at)
    if expires is not None and expires <= now:
        raise Unauthorized("API key expired; ask an admin for a new one")
    last_used = _aware(row.last_used_at)
    if last_used is None or now - last_used > LAST_USED_EVERY:
        with db.session() as session:
            session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now)
                            .execution_options(key_cache="keep"))  # a stamp, not a change of the key
    principal = _principal_of(db, row)
    if cache_seconds > 0:
        KEY_CACHE.put(db.url, plaintext, principal, ttl_s=cache_seconds, expires_at=expires, now=now, generation=generation)
    return principal


def _principal_of(db: Database, row: ApiKey) -> Principal:
    if row.account_id is None:
        apps = tuple(row.apps) if row.apps is not None else None
        return Principal(row.tenant_id, row.id, "key", row.name, row.role, apps)  # type: ignore[arg-type]
    with db.session() as session:
        account = session.get(Account, row.account_id)
        if account is None or account.disabled_at is not None:
            raise Unauthorized("this account is disabled")
        apps = tuple(account.apps) if account.apps is not None else None
        return Principal(account.tenant_id, account.id, "account", account.display_name or account.username, account.role, apps)  # type: ignore[arg-type]


def list_keys(db: Database, tenant_id: str) -> list[KeyInfo]:
    with db.session() as session:
        rows = session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.account_id.is_(None)).order_by(ApiKey.created_at)
        ).all()
        return [KeyInfo.of(row) for row in rows]


def _get(session: Any, tenant_id: str, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or row.tenant_id != tenant_id or row.account_id is not None:
        raise NotFound(f"no API key {key_id!r} in this tenant", field="key_id")
    return row


def get_key(db: Database, tenant_id: str, key_id: str) -> KeyInfo:
    with db.session() as session:
        return KeyInfo.of(_get(session, tenant_id, key_id))


def revoke_key(db: Database, tenant_id: str, key_id: str) -> KeyInfo:
    """Revoke a key now; it gets 401 from its next request on."""
    with db.session() as session:
        row = _get(session, tenant_id, key_id)
        row.revoked_at = row.revoked_at or utcnow()
        session.flush()
        return KeyInfo.of(row)


def rotate_key(db: Database, tenant_id: str, key_id: str, *, grace_seconds: int = 0) -> tuple[str, KeyInfo]:
    """A new key with the same name, role and apps; the old one stops after ``grace_seconds``."""
    with db.session() as session:
        old = _get(session, tenant_id, key_id)
        if old.revoked_at is not None:
            raise UserError("a revoked key cannot be rotated; create a new one", field="key_id")
        old_expires = _aware(old.expires_at)
        if old_expires is not None and old_expires <= utcnow():
            raise UserError("an expired key cannot be rotated; create a new one", field="key_id")
        name, role, apps, expires = old.name, old.role, old.apps, old.expires_at
        if grace_seconds <= 0:
            old.revoked_at = utcnow()
        else:
            deadline = utcnow() + timedelta(seconds=grace_seconds)
            old.expires_at = min(deadline, old_expires) if old_expires else deadline
    return issue_key(db, tenant_id, name=name, role=role, apps=apps, expires_at=expires, rotated_from=key_id)
