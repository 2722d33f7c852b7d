"""``Principal``: who is calling (an API key or a console account), its tenant, role and apps.

Roles are ordered: a ``viewer`` reads, an ``operator`` also acts (chats, replies, uploads, labels),
an ``admin`` also manages keys, accounts and settings. This module decides nothing about routes
(``moesaic.api.gate`` does); it only says what a principal is and may be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
PrincipalKind = Literal["key", "account"]


def role_rank(role: str) -> int:
    """Position of ``role`` in ``ROLES``; an unknown role is a programmer error."""
    assert role in ROLES, f"unknown role {role!r}; valid roles: {', '.join(ROLES)}"
    return ROLES.index(role)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Principal:
    """A caller: a tenant, an identity (key or account) with a name and a role, maybe limited to apps."""

    tenant_id: str
    id: str
    kind: PrincipalKind = "key"
    name: str = ""
    role: Role = "operator"
    apps: tuple[str, ...] | None = None

    @property
    def key_id(self) -> str:
        """The identity's id (kept for code written when every principal was a key)."""
        return self.id

    @property
    def label(self) -> str:
        """How people see this principal in the inbox and the audit log."""
        return self.name or f"{self.kind}:{self.id[:8]}"

    def may_use(self, app: str) -> bool:
        return self.apps is None or app in self.apps

    def may_manage(self, apps: "list[str] | tuple[str, ...] | None") -> bool:
        """Whether this principal may create or change a principal limited to ``apps`` (None: every app):
        never one that reaches further than itself."""
        if self.apps is None:
            return True
        return bool(apps) and set(apps) <= set(self.apps)  # type: ignore[arg-type]

    def has_role(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)
