"""The one authorisation gate: every route of the API, core and app routes alike, passes through it.

``install_gate`` adds a global dependency that reads the route's ``access(...)`` declaration and
- authenticates the bearer key (401), unless the route is public, and counts the request against the
  key's rate limits (429 with ``Retry-After``, ``api.ratelimit``);
- checks the principal's role against the route's (403 naming the role);
- resolves each declared resource to its owning app inside the caller's tenant: a named app the
  principal may not use is a 403 naming the app; an id-addressed resource (a conversation, a job) of
  another tenant or of an app the principal may not use is a 404, so existence does not leak; a
  knowledge base owned by such an app is a 403 naming the app;
- leaves the principal on ``request.state.principal`` for the route.
A middleware writes one audit row for every successful state-changing request, unless the route wrote
it in its own transaction (``moesaic.access.record_request_in``). A verified key is remembered for
``MOESAIC_KEY_CACHE_SECONDS`` (``moesaic.access.key_cache``; revoking it here forgets it at once), so a
known key costs no database read and no thread hop. ``check_routes``
refuses an application with a route that declares nothing. This module does not know what a
conversation or job is beyond the owner lookups registered in ``OWNER_LOOKUPS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from moesaic.access import Principal, authenticate, record
from moesaic.access.audit import WRITTEN, request_entry
from moesaic.access.key_cache import KEY_CACHE
from moesaic.access.declaration import EXTENSION, AccessRule, ResourceRef, parse
from moesaic.api.ratelimit import limiter_of
from moesaic.api.response_hooks import OnResponseStart
from moesaic.errors import ConfigError, Forbidden, NotFound, Unauthorized
from moesaic.jobs import CORE_APP

log = logging.getLogger(__name__)

# kind -> (platform, tenant_id, value) -> owning app, or None for a tenant-wide resource.
# Raise NotFound when the resource is not in the tenant.
OwnerLookup = Callable[[Any, str, str], str | None]


def _conversation_owner(platform: Any, tenant_id: str, conversation_id: str) -> str | None:
    return str(platform.store.get(tenant_id, conversation_id).app)


def _knowledge_base_owner(platform: Any, _tenant_id: str, kb: str) -> str | None:
    return platform.knowledge_base_owner(kb)  # type: ignore[no-any-return]


def _job_owner(platform: Any, tenant_id: str, job_id: str) -> str | None:
    return platform.job_owner(platform.jobs.get(tenant_id, job_id))  # type: ignore[no-any-return]


OWNER_LOOKUPS: dict[str, OwnerLookup] = {
    "conversation": _conversation_owner,
    "knowledge_base": _knowledge_base_owner,
    "job": _job_owner,
}


def rule_of(route: APIRoute) -> AccessRule:
    raw = (route.openapi_extra or {}).get(EXTENSION)
    if raw is None:
        raise ConfigError(f"route {sorted(route.methods or ())} {route.path} declares no access(...); every route must")
    return parse(raw)


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return token.strip()


async def _value(request: Request, ref: ResourceRef) -> str | None:
    if ref.source == "const":
        return ref.name
    if ref.source == "path":
        value = request.path_params.get(ref.name)
    elif ref.source == "query":
        value = request.query_params.get(ref.name)
    else:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return None  # the route's own validation answers 422
        value = body.get(ref.name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def _resolve(platform: Any, principal: Principal, ref: ResourceRef, value: str) -> str | None:
    """The app that owns ``value``, after checking the principal may reach it."""
    field = ref.name
    if ref.kind == "app":
        if value == CORE_APP:  # the core's own jobs: tenant-wide
            return None
        platform.apps.get(value, field=field)  # 404 naming the valid apps
        if not principal.may_use(value):
            raise Forbidden(f"this {principal.kind} may not use app {value!r}", field=field)
        return value
    owner = OWNER_LOOKUPS[ref.kind](platform, principal.tenant_id, value)
    if owner is not None and not principal.may_use(owner):
        if ref.kind == "knowledge_base":
            raise Forbidden(f"knowledge base {value!r} belongs to app {owner!r}, which this {principal.kind} may not use", field=field)
        raise NotFound(f"{ref.kind.replace('_', ' ')} {value!r} not found", field=field)
    return owner


async def _principal(platform: Any, token: str) -> Principal:
    """The key's principal: from memory when verified within the last ``key_cache_seconds``, else checked."""
    cache_seconds = platform.settings.key_cache_seconds
    remembered = KEY_CACHE.get(platform.db.url, token) if cache_seconds > 0 else None
    if remembered is not None:
        return remembered
    return await run_in_threadpool(authenticate, platform.db, token, cache_seconds=cache_seconds)  # type: ignore[no-any-return]


async def authorize(request: Request) -> None:
    """The gate (a global dependency): see the module docstring."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    rule = rule_of(route)
    if rule.public:
        return
    platform = request.app.state.platform
    token = bearer_token(request)
    principal = await _principal(platform, token)
    limiter = limiter_of(platform)
    if limiter.in_memory:
        limiter.check(principal.id, route.path)  # 429 with Retry-After
    else:
        await run_in_threadpool(limiter.check, principal.id, route.path)
    needed = rule.required_role(request.method)
    if not principal.has_role(needed):
        raise Forbidden(f"this needs the {needed!r} role; this {principal.kind} has {principal.role!r}", field="role")
    owner: str | None = None
    for ref in sorted(rule.resources, key=lambda r: r.kind == "app"):  # the named app is the owner the audit keeps
        value = await _value(request, ref)
        if value is not None:
            owner = await run_in_threadpool(_resolve, platform, principal, ref, value) or owner
    request.state.principal = principal
    request.state.owner_app = owner
    request.state.check_resource = partial(check_resource, platform, principal)  # moesaic.apps.ResourceCheckDep


def check_resource(platform: Any, principal: Principal, kind: str, value: str, field: str) -> str | None:
    """The gate's check of a resource a route finds only at run time (a stored record names it, such as a
    saved query's knowledge base): 403 or 404 naming ``field``, as for a declared resource. Returns its app."""
    return _resolve(platform, principal, ResourceRef(kind=kind, source="runtime", name=field), value)


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    assert principal is not None, "a public route asked for the principal"
    return principal  # type: ignore[no-any-return]


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute`` under ``routes``, through included routers (FastAPI includes them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from api_routes(nested.routes)


def check_routes(app: FastAPI) -> int:
    """Every API route declares its access; a route that does not stops start-up. Returns how many."""
    routes = list(api_routes(app.router.routes))
    for route in routes:
        rule_of(route)
    return len(routes)


def _audit(request: Request, status: int) -> None:
    entry = request_entry(request, status)
    if entry is None or getattr(request.state, WRITTEN, False):
        return
    try:
        record(request.app.state.platform.db, **entry)
    except Exception:  # the action happened; a failed audit write is logged loudly, not hidden
        log.exception("audit write failed for %s", entry["action"])


def install_gate(app: FastAPI) -> None:
    """The audit middleware; the gate itself is ``FastAPI(dependencies=[Depends(authorize)])``."""
    app.add_middleware(AuditMiddleware)


class AuditMiddleware(OnResponseStart):
    """Writes the audit row of a successful state-changing request before its response starts (the client
    never sees a success whose row is missing), unless the route wrote it in its own transaction."""

    async def response_starts(self, scope: Any, status: int, started: float) -> None:
        request = Request(scope)
        if request_entry(request, status) is not None and not getattr(request.state, WRITTEN, False):
            await run_in_threadpool(_audit, request, status)
