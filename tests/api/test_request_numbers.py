"""Every number in every request body means what the OpenAPI schema says: JSON ``true`` is no integer or
number (pydantic's lax mode would read it as 1; schemathesis counts accepting it as a contract failure).
Walks every route of every installed app, so a field added later is checked without editing this file."""

from __future__ import annotations

import shutil
import tempfile
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from moesaic.api.gate import api_routes
from moesaic.api.main import create_app
from moesaic.config import Settings
from moesaic.services import Platform


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_number(a) for a in get_args(annotation) if a is not type(None))
    return False


def routes_and_schema() -> tuple[list[APIRoute], dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix="moesaic-numbers-"))
    platform = Platform.create(Settings(home=home))  # every installed app's routes are mounted
    try:
        app = create_app(platform=platform)
        return list(api_routes(app.router.routes)), app.openapi()
    finally:
        platform.close()
        shutil.rmtree(home, ignore_errors=True)


def number_fields(routes: list[APIRoute]) -> list[tuple[str, Any]]:
    found: dict[str, Any] = {}
    seen: set[type[BaseModel]] = set()
    todo = [m for route in routes if isinstance(route, APIRoute)
            for param in route.dependant.body_params for m in _models(param.field_info.annotation)]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            todo += _models(field.annotation)
            if _is_number(field.annotation):
                meta = tuple(field.metadata)
                found[f"{model.__module__}.{model.__name__}.{name}"] = (
                    Annotated[(field.annotation, *meta)] if meta else field.annotation)
    return sorted(found.items())


ROUTES, SCHEMA = routes_and_schema()
FIELDS = number_fields(ROUTES)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in _keys(value)}
    if isinstance(node, list):
        return {k for value in node for k in _keys(value)}
    return set()


def test_bounds_reach_the_schema_as_json_schema_keywords() -> None:
    # pydantic writes ``ge``/``le`` (not ``minimum``/``maximum``) for ``Annotated[int, validator] | None``
    # fields: a bound the schema does not state is a valid request the API refuses
    components = SCHEMA["components"]["schemas"]
    assert not _keys(components) & {"ge", "gt", "le", "lt"}


def test_the_walk_finds_the_number_fields_of_core_and_app_bodies() -> None:
    names = {name for name, _ in FIELDS}
    assert any(".ChatRequest.max_tokens" in n or "max_tokens" in n for n in names), names
    assert any("fraud_detection" in n for n in names) and any("RetentionIn" in n for n in names), names


@pytest.mark.parametrize(("name", "annotation"), FIELDS, ids=[name for name, _ in FIELDS])
def test_a_json_boolean_is_no_number(name: str, annotation: Any) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(annotation).validate_python(True)
