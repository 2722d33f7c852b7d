"""Assertion rules on our labelled sentences, and the scope rules they rest on."""

from __future__ import annotations

import pytest

from apps.medical_ner.assertion import assert_entity, find_triggers
from apps.medical_ner.assertion_eval import SETS, accuracy, load


@pytest.mark.parametrize("row", load(SETS["development"]), ids=lambda r: r.text[:40])
def test_development_sentence(row) -> None:
    assert assert_entity(row.text, row.start, row.end) == row.assertion


def test_heldout_accuracy_stays_at_its_measured_level() -> None:
    rows = load(SETS["heldout"])
    assert len(rows) >= 30 and len(load(SETS["development"])) >= 60
    assert accuracy()["accuracy_heldout"] >= 0.86


def _status(sentence: str, entity: str) -> str:
    start = sentence.index(entity)
    return assert_entity(sentence, start, start + len(entity))


def test_termination_term_ends_a_negation_scope() -> None:
    assert _status("No fever but has a cough.", "cough") == "present"
    assert _status("No fever, cough or rash.", "rash") == "absent"


def test_pseudo_trigger_negates_nothing() -> None:
    assert [t.status for t in find_triggers("There is no change in the effusion.")] == []
    assert _status("There is no change in the effusion.", "effusion") == "present"


def test_forward_scope_is_capped_in_words() -> None:
    far = "No acute distress was observed during the long visit today and later the patient had a seizure."
    assert _status(far, "seizure") == "present"


def test_family_scope_stops_at_the_patient() -> None:
    assert _status("Father with diabetes and the patient with gout.", "gout") == "present"
    assert _status("Father with diabetes and gout.", "gout") == "associated_with_someone_else"


def test_nearest_of_absent_and_possible_wins() -> None:
    sentence = "Possible pneumonia, no effusion."
    assert _status(sentence, "pneumonia") == "possible"
    assert _status(sentence, "effusion") == "absent"
