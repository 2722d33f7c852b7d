"""FastAPI dependencies: the platform and the caller's principal (decided by ``api.gate``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from moesaic.access import Principal
from moesaic.api.gate import current_principal
from moesaic.services import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(get_platform)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
