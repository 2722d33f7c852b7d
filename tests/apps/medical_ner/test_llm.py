"""LLM mode with the scripted fake model: alignment (exact, case, whitespace, fuzzy), drops, hybrid."""

from __future__ import annotations

import json

import pytest

from apps.medical_ner.extract import Extractor
from apps.medical_ner.llm import SYSTEM_PROMPT, align, merge_hybrid, parse_reply
from moesaic.errors import UpstreamError, UserError
from moesaic.llm import FakeChatModel

NOTE = "Pt with Type 2 Diabetes on metformin.\r\nCXR:  chest   x-ray clear. Denies pneumonia. Metformin continued."


def _reply(*entities: dict) -> str:
    return json.dumps({"entities": list(entities)})


def test_align_prefers_exact_then_case_then_whitespace_then_fuzzy() -> None:
    assert align(NOTE, "metformin", set()) == (NOTE.index("metformin"), NOTE.index("metformin") + 9)
    start = NOTE.index("Type 2 Diabetes")
    assert align(NOTE, "type 2 diabetes", set()) == (start, start + 15)
    start = NOTE.index("chest   x-ray")
    assert align(NOTE, "chest x-ray", set()) == (start, start + len("chest   x-ray"))
    start = NOTE.index("pneumonia")
    assert align(NOTE, "pneumonias", set()) == (start, start + 9)
    assert align(NOTE, "unicorn pox", set()) is None


def test_repeated_mentions_take_successive_occurrences() -> None:
    first = align(NOTE, "metformin", set())
    assert first is not None
    second = align(NOTE, "metformin", {first})
    assert second == (NOTE.index("Metformin"), NOTE.index("Metformin") + 9)


def test_llm_mode_aligns_counts_drops_and_keeps_exact_slices() -> None:
    model = FakeChatModel([
        "```json\n" + _reply(
            {"text": "type 2 diabetes", "label": "problem", "assertion": "present"},
            {"text": "metformin", "label": "treatment"},
            {"text": "Metformin", "label": "treatment"},
            {"text": "chest x-ray", "label": "test"},
            {"text": "pneumonia", "label": "problem", "assertion": "absent"},
            {"text": "dragon fever", "label": "problem"},
            {"text": "aspirin", "label": "medication"},
        ) + "\n```"
    ])
    result = Extractor(None, model).extract(NOTE, mode="llm")
    assert result.num_llm_dropped == 2 and result.notes
    got = [(e.text, e.label, e.assertion, e.source) for e in result.entities]
    assert got == [
        ("Type 2 Diabetes", "problem", "present", "llm"),
        ("metformin", "treatment", "present", "llm"),
        ("chest   x-ray", "test", "present", "llm"),
        ("pneumonia", "problem", "absent", "llm"),
        ("Metformin", "treatment", "present", "llm"),
    ]
    assert all(NOTE[e.start : e.end] == e.text and e.score is None for e in result.entities)
    request = model.requests[0]
    assert request.messages[0].content == SYSTEM_PROMPT and request.messages[1].content == NOTE


def test_hybrid_keeps_model_entities_and_adds_non_overlapping_llm_ones(tagger) -> None:
    model = FakeChatModel([_reply(
        {"text": "Diabetes on", "label": "problem"},  # overlaps the model's span: the model's wins
        {"text": "chest x-ray", "label": "test"},
    )])
    result = Extractor(tagger, model).extract(NOTE, mode="hybrid")
    by_text = {e.text: e for e in result.entities}
    assert by_text["chest   x-ray"].source == "llm" and by_text["chest   x-ray"].label == "test"
    assert by_text["Type 2 Diabetes"].source == "model"
    assert "Diabetes on" not in by_text


def test_merge_rule_on_plain_spans() -> None:
    model = [(0, 5, "problem", 0.9, "model", None)]
    llm = [(3, 8, "treatment", None, "llm", None), (10, 12, "test", None, "llm", None)]
    assert merge_hybrid(model, llm) == [model[0], llm[1]]


def test_unreadable_reply_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="JSON"):
        parse_reply("I found diabetes and metformin.")
    with pytest.raises(UpstreamError, match="entities"):
        parse_reply('{"items": []}')


def test_llm_mode_without_a_chat_model_names_the_mode_field() -> None:
    with pytest.raises(UserError) as caught:
        Extractor(None, None).extract(NOTE, mode="llm")
    assert caught.value.field == "mode"


def test_llm_alignment_on_a_twenty_thousand_character_unicode_crlf_note() -> None:
    """The note goes in chunks; each chunk's entities (some in another case, spacing or accent) are aligned
    inside that chunk and shifted back, so every span is an exact slice of the whole note."""
    from moesaic.llm import ModelReply, ModelRequest
    from tests.apps.medical_ner.test_offsets import long_adversarial_note

    text = long_adversarial_note()

    def answer(request: ModelRequest) -> ModelReply:
        chunk = request.messages[1].content
        each = [{"text": "TYPE 2  DIABETES", "label": "problem"},  # case and spacing
                {"text": "metformin 500 mg", "label": "treatment"},  # a narrow no-break space in the note
                {"text": "Ｆｕｌｌｗｉｄｔｈ", "label": "test"},
                {"text": "hypertension", "label": "problem", "assertion": "possible"}]
        once = [{"text": "Ménière's disease", "label": "problem"},  # a straight apostrophe: fuzzy
                {"text": "no such thing", "label": "problem"}]  # dropped
        return ModelReply(content=json.dumps({"entities": each * chunk.count("Ménière") + once}))

    model = FakeChatModel([answer] * 10)
    result = Extractor(None, model).extract(text, mode="llm")
    chunks = len(model.requests)
    assert chunks > 2, "a 20k-character note is sent in chunks"
    assert all(text[e.start : e.end] == e.text for e in result.entities)
    copies = text.count("Ménière")
    texts = [e.text for e in result.entities]
    assert texts.count("type 2 diabetes") == copies and texts.count("metformin 500\u202fmg") == copies
    assert texts.count("Ｆｕｌｌｗｉｄｔｈ") == copies and texts.count("Ménière’s disease") == chunks
    assert result.num_llm_dropped == chunks
    assert {e.assertion for e in result.entities if e.text.endswith("hypertension")} == {"possible"}
    assert max(e.end for e in result.entities) > 19_000
