"""What an app's route and command code uses to reach its ``AppContext`` and the caller, without
importing the API layer or the CLI.

Routes: ``AppContextDep`` and ``TenantIdDep`` read what the platform's mount put on the request
(``request.state.app_context``, ``request.state.principal``). Commands: ``command_context(ctx)`` builds
the app's context on first use (so ``--help`` and commands that need no platform stay cheap).
Authorisation is not decided here: the platform's gate did it before the route runs, and ``ResourceCheckDep``
hands a route the gate's own check for a resource it finds only at run time (a stored record names it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from fastapi import Depends, Request

from moesaic.apps.context import AppContext
from moesaic.errors import ConfigError

CONTEXT_FACTORY_KEY = "moesaic.app_context_factory"


def current_app_context(request: Request) -> AppContext:
    context = getattr(request.state, "app_context", None)
    if context is None:
        raise ConfigError("AppContextDep works only in routes of an app router that the platform mounted")
    return context  # type: ignore[no-any-return]


def current_tenant_id(request: Request) -> str:
    principal: Any = getattr(request.state, "principal", None)
    if principal is None:
        raise ConfigError("TenantIdDep works only behind the platform's authorisation gate")
    return str(principal.tenant_id)


ResourceCheck = Callable[[str, str, str], Any]
"""``check(kind, value, field)``: may the caller reach this resource (kinds as in ``access``: ``knowledge_base``,
``conversation``, ``job``, ``app``)? Raises the gate's 403/404 naming ``field``."""


def current_resource_check(request: Request) -> ResourceCheck:
    check = getattr(request.state, "check_resource", None)
    if check is None:
        raise ConfigError("ResourceCheckDep works only behind the platform's authorisation gate")
    return check  # type: ignore[no-any-return]


AppContextDep = Annotated[AppContext, Depends(current_app_context)]
TenantIdDep = Annotated[str, Depends(current_tenant_id)]
ResourceCheckDep = Annotated[ResourceCheck, Depends(current_resource_check)]


def command_context(ctx: typer.Context) -> AppContext:
    """The ``AppContext`` of the app whose command is running (pass typer's ``ctx: typer.Context``).

    The platform is built on the first call and closed when the command ends."""
    factory = ctx.meta.get(CONTEXT_FACTORY_KEY)
    if factory is None:
        raise ConfigError("command_context works only in commands run through `moesaic apps <name> ...`")
    return factory()  # type: ignore[no-any-return]
