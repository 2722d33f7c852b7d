"""Files of notes (txt, CSV, JSONL) and BRAT/JSONL exports."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from apps.medical_ner.exports import brat_annotations, brat_zip, read_results
from apps.medical_ner.notes_file import Note, read_notes
from moesaic.errors import UserError


def test_three_formats_give_the_same_notes() -> None:
    expected = [Note("a1", "No fever."), Note("b2", "On aspirin, \"low dose\".")]
    csv_data = 'id,text,extra\na1,No fever.,x\nb2,"On aspirin, ""low dose"".",y\n'.encode()
    jsonl_data = "".join(json.dumps({"id": n.id, "text": n.text}) + "\n" for n in expected).encode()
    assert read_notes("notes.CSV", b"\xef\xbb\xbf" + csv_data) == expected
    assert read_notes("notes.jsonl", jsonl_data) == expected
    assert read_notes("notes.txt", "No fever.\r\n\r\nOn aspirin.\n".encode()) == [Note("1", "No fever."), Note("3", "On aspirin.")]


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.txt", "caf\xe9 fever".encode("latin-1"), "not UTF-8"),
        ("notes.docx", b"x", "unknown format"),
        ("notes.csv", b"name,text\nx,y\n", "'id' and 'text'"),
        ("notes.jsonl", b'{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "appears twice"),
        ("notes.jsonl", b'{"id": 1}\n', "line 1"),
        ("notes.txt", b"\n \n", "no notes"),
    ],
)
def test_bad_files_name_the_file_field(name: str, data: bytes, words: str) -> None:
    with pytest.raises(UserError) as caught:
        read_notes(name, data)
    assert caught.value.field == "file" and words in str(caught.value)


def test_brat_splits_entities_at_line_breaks_and_keeps_assertions() -> None:
    text = "Chest\r\npain and fever."
    entities = [
        {"start": 0, "end": 11, "label": "problem", "assertion": "absent"},
        {"start": 16, "end": 21, "label": "problem", "assertion": "present"},
    ]
    assert brat_annotations(text, entities) == (
        "T1\tproblem 0 5;7 11\tChest pain\nA1\tAssertion T1 absent\n"
        "T2\tproblem 16 21\tfever\nA2\tAssertion T2 present\n"
    )


def test_brat_zip_has_a_txt_and_ann_per_note_with_safe_unique_names() -> None:
    records = [{"id": "../x", "text": "fever", "entities": []}, {"id": "..\\x", "text": "café", "entities": []}]
    archive = zipfile.ZipFile(io.BytesIO(brat_zip(records)))
    assert sorted(archive.namelist()) == ["x.ann", "x.txt", "x_2.ann", "x_2.txt"]
    assert archive.read("x_2.txt").decode() == "café"


def test_results_reader_ignores_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "1"}\n{"id": "2"}\n{"id": "3', encoding="utf-8")
    assert [r["id"] for r in read_results(path)] == ["1", "2"]
