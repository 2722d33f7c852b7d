"""Mounting apps' routers: each once, at ``/v1/apps/<name>``, owned by that app, never over a core route.

``mount_app_routers`` is the one place an app's routes join the API. Every route it adds belongs to
the app (the gate's declaration ``app="const:<name>"``); a route whose method and path would also
match a core route stops start-up, naming the app and both paths. This module does not authorise
anything itself (the gate does, for app routes as for core ones); it binds the app's context to the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts

from moesaic.access.declaration import with_app
from moesaic.api.gate import api_routes as api_routes_of
from moesaic.apps import AppManifest
from moesaic.errors import ConfigError
from moesaic.services import Platform


def mount_app_routers(api: FastAPI, platform: Platform) -> None:
    """Include every app's router once (a second call, e.g. a second lifespan, adds nothing)."""
    for manifest in platform.apps:
        mount_app_router(api, manifest)


def mount_app_router(api: FastAPI, manifest: AppManifest) -> None:
    """Include one app's router at ``/v1/apps/<name>`` unless it is there already."""
    mounted: set[str] = api.state.__dict__.setdefault("mounted_apps", set())
    if manifest.router is None or manifest.name in mounted:
        return
    prefix = f"/v1/apps/{manifest.name}"
    check_collisions(manifest.name, prefix, manifest.router.routes, api_routes(api))
    for route in manifest.router.routes:
        if not isinstance(route, APIRoute) and getattr(route, "original_router", None) is None:
            raise ConfigError(f"app {manifest.name!r}: route {getattr(route, 'path', route)!r} is not an API route "
                              "(the authorisation gate only guards FastAPI API routes)")
    for route in api_routes_of(manifest.router.routes):  # the app owns every route, nested ones too (the gate checks)
        route.openapi_extra = with_app(route.openapi_extra, manifest.name)
    api.include_router(manifest.router, prefix=prefix, dependencies=[Depends(_bind_app(manifest.name))])
    mounted.add(manifest.name)
    api.openapi_schema = None


def _bind_app(name: str) -> Callable[..., None]:
    """The dependency that puts the app's context on the request for app routes (after the gate)."""

    def bind(request: Request) -> None:
        platform: Platform = request.app.state.platform
        request.state.app_context = platform.app_context(name)

    return bind


def api_routes(api: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route the API serves now, included routers flattened."""
    return [(str(ctx.path), set(ctx.methods)) for ctx in iter_route_contexts(api.routes) if ctx.path and ctx.methods]


def check_collisions(app: str, prefix: str, routes: list[Any], core: list[tuple[str, set[str]]]) -> None:
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        path = prefix + route.path
        for other_path, other_methods in core:
            shared = set(route.methods or ()) & other_methods
            if shared and _paths_overlap(path, other_path):
                methods = ",".join(sorted(shared))
                raise ConfigError(f"app {app!r}: route {methods} {path} collides with the core route {other_path}")


def _paths_overlap(a: str, b: str) -> bool:
    """True when one request path could match both templates (a ``{param}`` matches any one segment)."""
    left, right = a.rstrip("/").split("/"), b.rstrip("/").split("/")
    if len(left) != len(right):
        return False
    return all(x == y or _is_param(x) or _is_param(y) for x, y in zip(left, right))


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")
