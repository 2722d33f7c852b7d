"""``NotBoolean``: a request model's number field takes JSON numbers only, as its OpenAPI schema says."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from moesaic.json_numbers import NotBoolean


class Body(BaseModel):
    k: Annotated[int | None, NotBoolean] = Field(default=None, ge=1)


@pytest.mark.parametrize("value", [True, False, "5", "five"])
def test_booleans_and_strings_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError, match="k\n.*must be a number"):
        Body.model_validate({"k": value})


def test_numbers_and_null_are_taken() -> None:
    assert Body.model_validate({"k": 5}).k == 5
    assert Body.model_validate({"k": 241.0}).k == 241  # JSON Schema counts 241.0 as an integer
    assert Body.model_validate({"k": None}).k is None
