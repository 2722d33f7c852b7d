"""Plain ASGI middlewares that act when a response starts (its status is known, no body byte is sent yet).

Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``) copies every chunk of a streamed response
through a memory stream and a task of its own; these pass every message straight through.
"""

from __future__ import annotations

import time
from typing import Any


class OnResponseStart:
    """Calls ``response_starts(scope, status, started)`` before the response's first message goes out;
    ``started`` is the ``perf_counter`` at which the request came in."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_after_hook(message: Any) -> None:
            if message["type"] == "http.response.start":
                await self.response_starts(scope, message["status"], started)
            await send(message)

        await self.app(scope, receive, send_after_hook)

    async def response_starts(self, scope: Any, status: int, started: float) -> None:
        raise NotImplementedError
