"""Entities are exact slices of the input: Unicode, CRLF, whitespace runs, long sentences and notes."""

from __future__ import annotations

from apps.medical_ner.extract import Extractor
from apps.medical_ner.tagger import Tagger
from apps.medical_ner.tokens import encode_words, load_tokenizer, make_windows, owner_of_words
from apps.medical_ner.model import base_model_dir

ADVERSARIAL = (
    "Pt\u00a0is a 63\u2011y/o ♀ with Ménière’s disease\r\n\r\nand   type 2 diabetes;\tstarted metformin 500\u202fmg.\r\n"
    "Café-au-lait spots 😀 noted, naïve to insulin. Ｆｕｌｌｗｉｄｔｈ text; z\u0301oster; \u200bhypertension\x00 noted."
)


def _assert_exact(text: str, entities: list) -> None:
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text, (entity, text[entity.start : entity.end])
        assert entity.text == entity.text.strip() and entity.text, entity


def test_words_are_exact_slices_of_adversarial_text() -> None:
    tokenizer = load_tokenizer(base_model_dir() / "tokenizer.json")
    words = encode_words(tokenizer, ADVERSARIAL)
    assert words, "the tokenizer found no words"
    for word in words:
        piece = ADVERSARIAL[word.start : word.end]
        assert piece and not piece.isspace(), (word, piece)
    assert [ADVERSARIAL[w.start : w.end] for w in words][:4] == ["Pt", "is", "a", "63"]
    assert "Ménière" in [ADVERSARIAL[w.start : w.end] for w in words]


def test_extraction_offsets_exact_on_unicode_crlf_and_whitespace(extractor: Extractor) -> None:
    result = extractor.extract(ADVERSARIAL)
    _assert_exact(ADVERSARIAL, result.entities)
    found = {(e.label, e.text) for e in result.entities}
    assert ("treatment", "metformin") in found
    assert ("problem", "type 2 diabetes") in found


def test_long_sentence_is_covered_by_overlapping_windows(tagger: Tagger) -> None:
    words = encode_words(tagger.tokenizer, " ".join(["aspirin and fever"] * 200))
    windows = make_windows(words, tagger.cls_id, tagger.sep_id, 64)
    assert len(windows) > 5 and all(len(w.input_ids) <= 64 for w in windows)
    assert windows[0].first == 0 and windows[-1].last == len(words)
    assert all(a.last > b.first for a, b in zip(windows, windows[1:])), "consecutive windows must overlap"
    owners = owner_of_words(windows, len(words))
    assert len(owners) == len(words)


def test_twenty_thousand_character_note_without_sentence_breaks(extractor: Extractor) -> None:
    unit = "history of hypertension treated with lisinopril   and\r\n"
    text = (unit * (20_000 // len(unit) + 1))[:20_000]
    result = extractor.extract(text)
    _assert_exact(text, result.entities)
    assert sum(e.text == "lisinopril" for e in result.entities) > 300
    assert max(e.end for e in result.entities) > 19_000, "entities must be found up to the end of the note"


def test_many_texts_in_one_batch_keep_their_own_offsets(extractor: Extractor) -> None:
    texts = ["Metformin for diabetes.", "  \r\n  No asthma.  ", "He takes aspirin daily."]
    results = extractor.extract_many(texts)
    for text, result in zip(texts, results):
        _assert_exact(text, result.entities)
    assert [e.text for e in results[1].entities] == ["asthma"]
    assert results[1].entities[0].assertion == "absent"


def long_adversarial_note(size: int = 20_000) -> str:
    """``ADVERSARIAL`` (Unicode, CRLF, tabs, NUL, emoji, fullwidth) repeated to ``size`` characters."""
    return ((ADVERSARIAL + "\r\n") * (size // (len(ADVERSARIAL) + 2) + 1))[:size]


def test_twenty_thousand_character_adversarial_note(extractor: Extractor) -> None:
    text = long_adversarial_note()
    result = extractor.extract(text)
    _assert_exact(text, result.entities)
    copies = text.count("metformin")
    assert copies > 50 and sum(e.text == "metformin" for e in result.entities) >= copies - 1  # the last may be cut
    assert max(e.end for e in result.entities) > 19_500, "entities must be found up to the end of the note"
