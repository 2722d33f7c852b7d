"""FastAPI dependencies: the platform and the caller's principal (decided by ``api.gate``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from moesaic.access import Principal
from moesaic.api.gate import current_principal
from moesaic.errors import UserError
from moesaic.services import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(get_platform)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_chat_app(platform: Platform, principal: Principal, name: str, field: str = "model"):  # type: ignore[no-untyped-def]
    """The app ``name`` if it has a chat part (the gate already checked the principal may use it)."""
    app = platform.apps.get(name, field=field)
    if not app.is_chat:
        usable = ", ".join(a.name for a in platform.apps.chat_apps if principal.may_use(a.name)) or "none"
        raise UserError(f"app {name!r} has no chat; chat models for this key: {usable}", field=field)
    return app
