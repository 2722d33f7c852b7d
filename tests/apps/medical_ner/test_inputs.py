"""Bad input fails with a UserError that names the field."""

from __future__ import annotations

import pytest

from apps.medical_ner.entities import MAX_TEXT_CHARS
from apps.medical_ner.extract import Extractor
from moesaic.errors import UserError


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"text": ""}, "text", "empty"),
        ({"text": " \r\n\t "}, "text", "empty"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text", str(MAX_TEXT_CHARS)),
        ({"text": "fever", "mode": "magic"}, "mode", "model, llm, hybrid"),
        ({"text": "fever", "labels": ["drug"]}, "labels", "problem, treatment, test"),
        ({"text": "fever", "labels": []}, "labels", "empty"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str, words: str) -> None:
    text = kwargs.pop("text")
    with pytest.raises(UserError) as caught:
        Extractor(None, None).extract(text, **kwargs)
    assert caught.value.field == field and words in str(caught.value)


def test_bad_text_in_a_list_names_its_index() -> None:
    with pytest.raises(UserError) as caught:
        Extractor(None, None).extract_many(["fine", ""])
    assert caught.value.field == "texts[1]"
