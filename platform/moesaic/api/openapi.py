"""The API contract in the OpenAPI schema: bearer security and the error responses of every operation.

``install_openapi`` post-processes the schema FastAPI generates, so core routes and app routes
(mounted later) get the same treatment from one place:
- ``components.securitySchemes`` declares the bearer key; every operation whose ``x-moesaic-access``
  is not public gets ``security``;
- the generic errors follow from the same declaration the gate enforces: 401 on every authenticated
  route, 403 where a role or an app can refuse, 404 where a resource is looked up;
- FastAPI's 422 (``HTTPValidationError``) is replaced by the body ``api.errors`` really sends;
- a ``$ref`` to a component FastAPI did not generate (a model named only in a hand-written
  response, such as the chat stream's chunks) is filled from ``moesaic.api.schemas``.
Route-specific errors (409, 413, 502, 504, ...) are declared next to their route with
``responses=error_responses(...)`` (``moesaic.errors``; apps reach it through ``moesaic.apps``). This module
enforces nothing; the gate does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from moesaic.access.declaration import EXTENSION, AccessRule, parse
from moesaic.api import schemas
from moesaic.api.schemas.common import json_schema_of
from moesaic.errors import ERROR_DESCRIPTIONS, ConfigError, error_responses

BEARER = "bearerAuth"
REF_PREFIX = "#/components/schemas/"
FASTAPI_VALIDATION_COMPONENTS = ("HTTPValidationError", "ValidationError")


def generic_error_statuses(rule: AccessRule, method: str) -> tuple[int, ...]:
    """The errors the gate itself can answer for a route declared with ``rule``."""
    if rule.public:
        return ()
    statuses = [401, 429]
    app_refusal = any(ref.kind in ("app", "knowledge_base") for ref in rule.resources)
    if rule.required_role(method) != "viewer" or app_refusal:
        statuses.append(403)
    if any(ref.source != "const" for ref in rule.resources):  # a const app is the route's own: it exists
        statuses.append(404)
    return tuple(statuses)


def _error_response(status: int, component: str = "ErrorResponse") -> dict[str, Any]:
    return error_responses(status, component=component)[status]


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _add_model(components: dict[str, Any], model: type[Any]) -> None:
    schema, nested = json_schema_of(model, REF_PREFIX + "{model}")
    for name, definition in nested.items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)


def _fill_missing_components(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    while missing := {name for name in _refs(schema) if name not in components}:
        for name in sorted(missing):
            model = getattr(schemas, name, None)
            if model is None:
                raise ValueError(f"the OpenAPI schema refers to {name!r}, which is no model of moesaic.api.schemas")
            _add_model(components, model)


def _drop_unused_fastapi_components(schema: dict[str, Any]) -> None:
    """FastAPI's own 422 components, once no operation refers to them any more."""
    components = schema.get("components", {}).get("schemas", {})
    for name in FASTAPI_VALIDATION_COMPONENTS:  # HTTPValidationError first: it refers to ValidationError
        others = {key: value for key, value in components.items() if key != name}
        if name not in set(_refs(schema.get("paths", {}))) | set(_refs(others)):
            components.pop(name, None)


def _sort_responses(responses: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(responses.items(), key=lambda item: (not item[0].startswith("2"), item[0])))


def document_contract(schema: dict[str, Any]) -> dict[str, Any]:
    """Add security and error responses to a schema FastAPI generated (in place; idempotent)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`msk-...`) or a console session key from POST /v1/sessions.",
    }
    for method, operation in _operations(schema):
        if EXTENSION not in operation:
            raise ConfigError(f"operation {operation.get('operationId')} declares no access(...); every route must")
        rule = parse(operation[EXTENSION])
        if not rule.public:
            operation["security"] = [{BEARER: []}]
        responses = operation["responses"]
        for status in generic_error_statuses(rule, method):
            responses.setdefault(str(status), _error_response(status))
        if "requestBody" in operation:  # a route's own checks of what it was sent (UserError) answer 400
            responses.setdefault("400", _error_response(400))
        if "422" in responses:
            responses["422"] = _error_response(422, "ValidationErrorResponse")
        operation["responses"] = _sort_responses(responses)
    _fill_missing_components(schema)
    _drop_unused_fastapi_components(schema)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the documented contract (regenerated whenever routes are added)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate()
        if fresh:
            document_contract(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
