"""Extraction from any text: sentences, the offline model, assertion status, and the LLM/hybrid modes.

``Extractor.extract(text, mode=..., labels=...)`` splits the text into sentences with exact offsets
(``moesaic.sentences``), tags all sentences in one batch (a sentence longer than the encoder window is
covered by overlapping windows), decides each entity's assertion from its sentence, and returns
``Entity`` objects whose ``text == input[start:end]``. Modes:

- ``model``: the trained classifier (problem, treatment; it never claims ``test``).
- ``llm``: the configured chat model (``llm.extract_with_llm``), spans aligned back to the text.
- ``hybrid``: every model entity, plus each LLM entity that overlaps no model entity (so tests and
  anything the model missed come from the LLM; where both found something, the measured model's span
  and label win).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moesaic import Sentence, split_sentences

from apps.medical_ner.assertion import assert_entities
from apps.medical_ner.entities import Entity, SpanTuple, check_labels, check_mode, check_text


@dataclass
class Extraction:
    entities: list[Entity]
    mode: str
    model_version: str
    num_llm_dropped: int = 0  # LLM spans that could not be aligned to the text
    notes: list[str] = field(default_factory=list)


def sentences_of(text: str) -> list[Sentence]:
    """Sentences with exact offsets; a text the segmenter returns nothing for counts as one sentence."""
    found = split_sentences(text)
    if not found and text.strip():
        start = len(text) - len(text.lstrip())
        end = len(text.rstrip())
        found = [Sentence(start, end, text[start:end])]
    return found


def with_assertions(text: str, spans: Sequence[SpanTuple], sentences: list[Sentence]) -> list[Entity]:
    """Entities from (start, end, label, score, source, assertion or None) spans; a missing assertion is
    decided by the rules within the entity's sentence (each sentence's triggers are found once)."""
    decided: dict[int, str] = {}
    per_sentence: dict[int, list[int]] = {}
    for index, (start, _end, _label, _score, _source, assertion) in enumerate(spans):
        if assertion is not None:
            decided[index] = assertion
            continue
        where = next((i for i, s in enumerate(sentences) if s.start <= start < s.end), None)
        if where is None:
            decided[index] = "present"
        else:
            per_sentence.setdefault(where, []).append(index)
    for where, indexes in per_sentence.items():
        sentence = sentences[where]
        local = [(spans[i][0] - sentence.start, min(spans[i][1], sentence.end) - sentence.start) for i in indexes]
        decided.update(zip(indexes, assert_entities(sentence.text, local)))
    return [Entity(start, end, text[start:end], label, decided[index], score, source)
            for index, (start, end, label, score, source, _assertion) in enumerate(spans)]


class Extractor:
    """The app's extraction service: a loaded ``Tagger`` (may be ``None`` for LLM-only use) and a chat model."""

    def __init__(self, tagger: Any, chat_model: Any = None, *, model_version: str = "") -> None:
        self.tagger = tagger
        self.chat_model = chat_model
        self.model_version = model_version

    def model_spans(self, texts: Sequence[str], per_text: list[list[Sentence]] | None = None) -> list[list[SpanTuple]]:
        """Model entities for several texts at once (all their sentences in one batch)."""
        per_text = per_text if per_text is not None else [sentences_of(text) for text in texts]
        flat = [s.text for sentences in per_text for s in sentences]
        tagged = iter(self.tagger.tag(flat)) if flat else iter(())
        results: list[list[SpanTuple]] = []
        for sentences in per_text:
            spans: list[SpanTuple] = []
            for sentence in sentences:
                for span in next(tagged):
                    spans.append((sentence.start + span.start, sentence.start + span.end, span.label, span.score, "model", None))
            results.append(spans)
        return results

    def extract(self, text: str, *, mode: str = "model", labels: Iterable[str] | None = None) -> Extraction:
        return self._extract([text], mode, labels, ["text"])[0]

    def extract_many(self, texts: Sequence[str], *, mode: str = "model", labels: Iterable[str] | None = None) -> list[Extraction]:
        """Several texts in one model batch; a bad one is a ``UserError`` naming ``texts[i]``."""
        return self._extract(texts, mode, labels, [f"texts[{i}]" for i in range(len(texts))])

    def _extract(self, texts: Sequence[str], mode: str, labels: Iterable[str] | None, fields: list[str]) -> list[Extraction]:
        check_mode(mode)
        wanted = check_labels(labels)
        for text, name in zip(texts, fields):
            check_text(text, name)
        sentences = [sentences_of(text) for text in texts]
        model_spans = self.model_spans(texts, sentences) if mode in ("model", "hybrid") else [[] for _ in texts]
        results = []
        for text, text_sentences, from_model in zip(texts, sentences, model_spans):
            dropped = 0
            notes: list[str] = []
            spans = list(from_model)
            if mode in ("llm", "hybrid"):
                from apps.medical_ner.llm import extract_with_llm, merge_hybrid

                llm_spans, dropped = extract_with_llm(self.chat_model, text)
                spans = merge_hybrid(spans, llm_spans) if mode == "hybrid" else llm_spans
                if dropped:
                    notes.append(f"{dropped} LLM entities could not be aligned to the text and were dropped")
            spans = [s for s in spans if s[2] in wanted]
            spans.sort(key=lambda s: (s[0], s[1]))
            entities = with_assertions(text, spans, text_sentences)
            results.append(Extraction(entities, mode, self.model_version, dropped, notes))
        return results
