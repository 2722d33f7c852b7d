"""Error responses in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every error has this shape, unexpected ones included: a catch-all handler turns any exception into a
500 ``server_error`` whose message names no internals (the traceback goes to the log, redacted)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from moesaic.errors import MoesaicError, UpstreamError, UserError

log = logging.getLogger(__name__)
DATABASE_RETRY_AFTER_S = 5  # what a 503 tells the caller to wait while the database is unreachable


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        first_field = None
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            field = ".".join(loc) or "body"
            first_field = first_field or field
            problems.append(f"{field}: {err.get('msg')}")
        body = error_body("; ".join(problems), "invalid_request_error", first_field, "validation_error")
        body["detail"] = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # What the framework answers itself: a body that is not JSON (a 422 like every other invalid body),
        # a method the path does not have (405 whose Allow lists every method of the path), an unknown path.
        if exc.status_code == 400:
            message = "body: the request body could not be parsed (not valid JSON, or not UTF-8)"
            body = error_body(message, "invalid_request_error", "body", "validation_error")
            body["detail"] = [{"loc": ["body"], "msg": "could not be parsed", "type": "json_invalid"}]
            return JSONResponse(body, status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            from moesaic.api.gate import api_routes

            methods = sorted({m for route in api_routes(request.app.router.routes)
                              if route.path_regex.match(request.url.path) for m in (route.methods or ())})
            headers["Allow"] = ", ".join(methods)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {headers['Allow']}"
        else:
            message = str(exc.detail)
        kind = {404: "not_found_error", 405: "invalid_request_error"}.get(exc.status_code, "invalid_request_error")
        return JSONResponse(error_body(message, kind), status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(UserError)
    async def _user(_request: Request, exc: UserError) -> JSONResponse:
        kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 409: "conflict_error",
                429: "rate_limit_error"}
        retry_after = getattr(exc, "retry_after", None)  # busy or rate-limited: when to try again
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse(error_body(str(exc), kind.get(exc.status, "invalid_request_error"), exc.field),
                            status_code=exc.status, headers=headers)

    @app.exception_handler(UpstreamError)
    async def _upstream(_request: Request, exc: UpstreamError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "upstream_error", None, type(exc).__name__), status_code=exc.status)

    @app.exception_handler(MoesaicError)
    async def _internal(_request: Request, exc: MoesaicError) -> JSONResponse:
        log.exception("internal error", exc_info=exc)
        return JSONResponse(error_body(str(exc), "server_error"), status_code=500)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and not isinstance(exc, (OperationalError, InterfaceError)) \
                and not exc.connection_invalidated:
            return await _unexpected(request, exc)
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        log.error("database unavailable on %s %s: %s", request.method, request.url.path, reason)
        message = f"the database is unavailable or busy; retry in {DATABASE_RETRY_AFTER_S} s"
        return JSONResponse(error_body(message, "service_unavailable_error", None, "database_unavailable"),
                            status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    for outage in (OperationalError, InterfaceError, PoolTimeout, DBAPIError):
        app.add_exception_handler(outage, _database_unavailable)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (NUL characters, text longer than its column, a malformed number):
        # the caller's input, so a 400. The database's own message may quote the value: it is not sent.
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        message = ("the request holds a value the database cannot store (NUL characters, text longer than "
                   "the field allows, or a malformed value)")
        return JSONResponse(error_body(message, "invalid_request_error", None, "unstorable_value"), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette calls this from its outermost middleware and re-raises afterwards, so the server logs
        # the traceback too; the caller gets the OpenAI shape instead of a plain-text 500.
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); the server log has the details"
        return JSONResponse(error_body(message, "server_error", None, "internal_error"), status_code=500)
