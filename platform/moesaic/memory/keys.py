"""Tenants and API keys. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from moesaic.db import Database
from moesaic.errors import Unauthorized
from moesaic.memory.tables import ApiKey, Tenant

DEFAULT_TENANT = "default"
KEY_PREFIX = "msk-"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, through one key, maybe limited to some apps."""

    tenant_id: str
    key_id: str
    apps: tuple[str, ...] | None

    def may_use(self, app: str) -> bool:
        return self.apps is None or app in self.apps


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def ensure_tenant(db: Database, name: str = DEFAULT_TENANT) -> str:
    with db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.name == name))
        if tenant is None:
            tenant = Tenant(name=name)
            session.add(tenant)
            session.flush()
        return tenant.id


def create_api_key(
    db: Database, tenant: str = DEFAULT_TENANT, *, name: str = "", apps: list[str] | None = None, plaintext: str | None = None
) -> str:
    """Create a key for ``tenant`` (created if missing) and return its plaintext."""
    tenant_id = ensure_tenant(db, tenant)
    plaintext = plaintext or KEY_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
        if existing is None:
            session.add(
                ApiKey(tenant_id=tenant_id, key_hash=hash_key(plaintext), prefix=plaintext[:8], name=name, apps=apps)
            )
    return plaintext


def authenticate(db: Database, plaintext: str) -> Principal:
    with db.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
        if key is None or key.revoked_at is not None:
            raise Unauthorized("invalid API key")
        return Principal(key.tenant_id, key.id, tuple(key.apps) if key.apps is not None else None)
