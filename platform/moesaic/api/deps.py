"""FastAPI dependencies: the platform, the caller's principal, the app a request names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from moesaic.errors import Forbidden, Unauthorized, UserError
from moesaic.memory import Principal, authenticate
from moesaic.services import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_principal(request: Request, platform: PlatformDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return authenticate(platform.db, token.strip())


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_app(platform: Platform, principal: Principal, name: str, field: str = "model", *, chat: bool = False):  # type: ignore[no-untyped-def]
    """The app ``name`` if the key may use it; with ``chat``, only an app that has a chat part."""
    app = platform.apps.get(name)
    if not principal.may_use(name):
        raise Forbidden(f"this API key may not use app {name!r}", field=field)
    if chat and not app.is_chat:
        usable = ", ".join(a.name for a in platform.apps.chat_apps if principal.may_use(a.name)) or "none"
        raise UserError(f"app {name!r} has no chat; chat models for this key: {usable}", field=field)
    return app
