"""One loaded tagger for the medical_ner tests (MiniLM + the committed adapter, on the CPU)."""

from __future__ import annotations

import pytest

from apps.medical_ner.extract import Extractor
from apps.medical_ner.tagger import Tagger


@pytest.fixture(scope="session")
def tagger() -> Tagger:
    return Tagger.load()


@pytest.fixture()
def extractor(tagger: Tagger) -> Extractor:
    return Extractor(tagger, None, model_version="test")
