"""The committed artefact: small, loads onto the pip-installed MiniLM, and finds sensible entities."""

from __future__ import annotations

from apps.medical_ner.extract import Extractor
from apps.medical_ner.labels import TAGS
from apps.medical_ner.model import read_config
from apps.medical_ner.service import get_extractor, model_version
from apps.medical_ner.tagger import DEFAULT_ARTEFACT

NOTE = (
    "63 year old woman with type 2 diabetes and hypertension, on metformin and lisinopril. "
    "She denies chest pain. Her mother had breast cancer. Possible pneumonia; started amoxicillin."
)


def test_artefact_is_a_small_lora_adapter_with_its_card_facts() -> None:
    assert DEFAULT_ARTEFACT.stat().st_size < 10 * 1024 * 1024
    config = read_config(DEFAULT_ARTEFACT)
    assert config.method == "lora" and config.tags == TAGS
    assert set(config.extra["devel"]) == {"NCBI-disease", "BC5CDR", "BC5CDR-chem", "BC5CDR-disease"}
    assert model_version(DEFAULT_ARTEFACT).startswith(f"minilm-l6-lora-r{config.lora_rank}-")


def test_short_note_gives_sensible_entities_and_assertions(extractor: Extractor) -> None:
    found = {(e.text, e.label): e for e in extractor.extract(NOTE).entities}
    for text, label, assertion in [
        ("type 2 diabetes", "problem", "present"),
        ("hypertension", "problem", "present"),
        ("metformin", "treatment", "present"),
        ("lisinopril", "treatment", "present"),
        ("chest pain", "problem", "absent"),
        ("breast cancer", "problem", "associated_with_someone_else"),
        ("pneumonia", "problem", "possible"),
        ("amoxicillin", "treatment", "present"),
    ]:
        assert (text, label) in found, f"{text!r} ({label}) not found in {sorted(found)}"
        assert found[(text, label)].assertion == assertion, (text, found[(text, label)].assertion)
        assert 0.5 < (found[(text, label)].score or 0) <= 1.0
    assert all(e.source == "model" for e in found.values())
    assert all(e.label != "test" for e in found.values()), "the offline model never claims tests"


def test_label_filter_keeps_only_the_asked_labels(extractor: Extractor) -> None:
    entities = extractor.extract(NOTE, labels=["treatment"]).entities
    assert entities and {e.label for e in entities} == {"treatment"}


def test_service_loads_one_extractor_per_process(tagger: object) -> None:
    services: dict = {"tagger": tagger}
    first = get_extractor(services)
    assert get_extractor(services) is first and first.model_version.startswith("minilm-l6-")
