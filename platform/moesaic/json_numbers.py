"""Numbers in request bodies as JSON Schema means them.

Pydantic's lax mode reads JSON ``true`` as 1 and the string ``"5"`` as 5 for an ``int`` or ``float`` field,
while the OpenAPI schema says ``integer``/``number``, where a boolean or a string is neither; its strict mode
refuses ``241.0``, which JSON Schema counts as an integer. ``NotBoolean`` sits between the two (it refuses
booleans and strings): a request model's number field is written
``Annotated[int | None, NotBoolean] = Field(default=None, ge=1)`` (the optional type inside ``Annotated``:
pydantic drops ``ge``/``le`` from the JSON schema of an ``Annotated[...] | None``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    if isinstance(value, str):  # schemathesis found "k": "5" accepted where the schema says integer
        raise ValueError("must be a number, not a string")
    return value


NotBoolean = BeforeValidator(_not_a_boolean)
