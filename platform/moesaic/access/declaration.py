"""What a route owns, declared next to the route: ``openapi_extra=access(...)``.

The declaration travels in the OpenAPI schema under ``x-moesaic-access`` so that the gate reads it at
request time and a test can walk every route. It names the resources a request touches and where
their ids are (``path:``, ``query:``, ``body:`` or ``const:``); the gate resolves each one to its
tenant and owning app. This module only builds and parses declarations; it enforces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moesaic.access.principal import ROLES

EXTENSION = "x-moesaic-access"
RESOURCE_KINDS = ("app", "conversation", "knowledge_base", "job")
SOURCES = ("path", "query", "body", "const")


@dataclass(frozen=True)
class ResourceRef:
    """One resource a route touches: its kind and where the request carries its id."""

    kind: str
    source: str
    name: str


@dataclass(frozen=True)
class AccessRule:
    public: bool
    role: str | None
    resources: tuple[ResourceRef, ...]

    def required_role(self, method: str) -> str:
        """The declared role, else ``viewer`` for reads and ``operator`` for everything else."""
        if self.role:
            return self.role
        return "viewer" if method.upper() in ("GET", "HEAD", "OPTIONS") else "operator"


def access(*, public: bool = False, role: str | None = None, **resources: str) -> dict[str, Any]:
    """The ``openapi_extra`` of a route: ``access(conversation="path:conversation_id")``.

    ``access()`` is an authenticated, tenant-wide route that owns nothing; ``access(public=True)``
    needs no key; ``role`` raises the role a route needs (``"admin"``) or lowers it (``"viewer"`` for
    a read-only POST).
    """
    rule = {"public": public, "role": role, "resources": dict(resources)}
    parse(rule)  # fail where the route is declared, not at the first request
    return {EXTENSION: rule}


def parse(raw: dict[str, Any]) -> AccessRule:
    """Validate a declaration; a bad one is a programmer error with a message naming the problem."""
    role = raw.get("role")
    if role is not None and role not in ROLES:
        raise ValueError(f"access(role={role!r}): valid roles are {', '.join(ROLES)}")
    refs = []
    for kind, where in (raw.get("resources") or {}).items():
        if kind not in RESOURCE_KINDS:
            raise ValueError(f"access({kind}=...): valid resource kinds are {', '.join(RESOURCE_KINDS)}")
        source, _, name = str(where).partition(":")
        if source not in SOURCES or not name:
            raise ValueError(f"access({kind}={where!r}): write '<source>:<name>' with source one of {', '.join(SOURCES)}")
        refs.append(ResourceRef(kind, source, name))
    if raw.get("public") and (refs or role):
        raise ValueError("a public route declares no resources and no role")
    return AccessRule(bool(raw.get("public")), role, tuple(refs))


def with_app(openapi_extra: dict[str, Any] | None, app: str) -> dict[str, Any]:
    """``openapi_extra`` of an app route: the app owns it, plus whatever the route declared itself."""
    extra = dict(openapi_extra or {})
    rule = dict(extra.get(EXTENSION) or {"public": False, "role": None, "resources": {}})
    if rule.get("public"):
        raise ValueError(f"app {app!r}: app routes cannot be public")
    rule["resources"] = {**(rule.get("resources") or {}), "app": f"const:{app}"}
    parse(rule)
    extra[EXTENSION] = rule
    return extra
