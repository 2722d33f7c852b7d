"""Console accounts: people with a username, a password (scrypt), a role and maybe some apps.

Signing in issues a session: a key row tied to the account that expires (12 hours by default).
The principal of a session is the account itself, so its role, apps and name are read from the
account at every request (disabling an account ends its sessions at once). The console's sign-in
screens are built on this; this module has no notion of HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from moesaic.access.keys import KEY_PREFIX, _check_role, new_key_row
from moesaic.access.tables import Account
from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound, Unauthorized

SESSION_HOURS = 12
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    scheme, salt, digest = (stored.split("$") + ["", ""])[:3]
    if scheme != "scrypt" or not salt:
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)).split("$")[2], digest)


_DUMMY_HASH = hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class AccountInfo:
    id: str
    username: str
    display_name: str
    role: str
    apps: list[str] | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, row: Account) -> "AccountInfo":
        return cls(row.id, row.username, row.display_name, row.role, row.apps, row.disabled_at is not None, row.created_at)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name, "role": self.role,
                "apps": self.apps, "disabled": self.disabled, "created_at": self.created_at.isoformat()}


def create_account(
    db: Database, tenant_id: str, username: str, password: str, *, display_name: str = "", role: str = "operator",
    apps: list[str] | None = None,
) -> AccountInfo:
    _check_role(role)
    try:
        with db.session() as session:
            row = Account(tenant_id=tenant_id, username=username, display_name=display_name or username,
                          password_hash=hash_password(password), role=role, apps=apps)
            session.add(row)
            session.flush()
            return AccountInfo.of(row)
    except IntegrityError:
        raise Conflict(f"an account named {username!r} already exists in this tenant", field="username") from None


def list_accounts(db: Database, tenant_id: str) -> list[AccountInfo]:
    with db.session() as session:
        rows = session.scalars(select(Account).where(Account.tenant_id == tenant_id).order_by(Account.username)).all()
        return [AccountInfo.of(row) for row in rows]


def get_account(db: Database, tenant_id: str, account_id: str) -> AccountInfo:
    with db.session() as session:
        row = session.get(Account, account_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"no account {account_id!r} in this tenant", field="account_id")
        return AccountInfo.of(row)


def disable_account(db: Database, tenant_id: str, account_id: str) -> AccountInfo:
    with db.session() as session:
        row = session.get(Account, account_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"no account {account_id!r} in this tenant", field="account_id")
        row.disabled_at = row.disabled_at or utcnow()
        session.flush()
        return AccountInfo.of(row)


def sign_in(db: Database, tenant_id: str, username: str, password: str, *, hours: int = SESSION_HOURS) -> tuple[str, AccountInfo, datetime]:
    """Check the password and issue a session key; the same 401 for a wrong name or password."""
    with db.session() as session:
        row = session.scalar(select(Account).where(Account.tenant_id == tenant_id, Account.username == username))
        stored = row.password_hash if row is not None else _DUMMY_HASH  # the same work whether the name exists
        if not check_password(password, stored) or row is None or row.disabled_at is not None:
            raise Unauthorized("wrong username or password")
        expires = utcnow() + timedelta(hours=hours)
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        session.add(new_key_row(tenant_id, plaintext, name=f"session:{row.username}", role=row.role,
                                account_id=row.id, expires_at=expires))
        return plaintext, AccountInfo.of(row), expires
