"""A file of notes for a batch job: plain text, CSV or JSONL, parsed and validated before queueing.

- ``.txt``: one note per non-blank line; a note's id is its line number.
- ``.csv``: a header with ``id`` and ``text`` columns (others ignored).
- ``.jsonl``: one object per line with ``id`` and ``text``.
The file must be UTF-8 (a BOM is allowed); every problem is a ``UserError`` naming the field ``file``
and, where it helps, the line. Ids must be unique. No extraction here.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from moesaic.errors import UserError

from apps.medical_ner.entities import MAX_TEXT_CHARS

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_NOTES = 20_000
FORMATS = ("txt", "csv", "jsonl")


@dataclass(frozen=True)
class Note:
    id: str
    text: str


def note_format(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FORMATS:
        raise UserError(f"file {filename!r}: unknown format; expected a name ending in .{', .'.join(FORMATS)}", field="file")
    return suffix


def read_notes(filename: str, data: bytes) -> list[Note]:
    """The notes in an uploaded file (see the module docstring for the formats)."""
    kind = note_format(filename)
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"file is {len(data)} bytes; the limit is {MAX_FILE_BYTES}", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"file is not UTF-8 (byte {exc.start} cannot be decoded)", field="file") from None
    if kind == "txt":
        notes = [Note(str(number), line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    elif kind == "csv":
        notes = _csv_notes(text)
    else:
        notes = _jsonl_notes(text)
    if not notes:
        raise UserError("file holds no notes", field="file")
    if len(notes) > MAX_NOTES:
        raise UserError(f"file holds {len(notes)} notes; the limit is {MAX_NOTES}", field="file")
    seen: set[str] = set()
    for note in notes:
        if note.id in seen:
            raise UserError(f"file: id {note.id!r} appears twice; ids must be unique", field="file")
        seen.add(note.id)
        if not note.text.strip() or len(note.text) > MAX_TEXT_CHARS:
            raise UserError(f"file: note {note.id!r} is empty or over {MAX_TEXT_CHARS} characters", field="file")
    return notes


def _csv_notes(text: str) -> list[Note]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"id", "text"} <= set(reader.fieldnames):
        raise UserError(f"file: the CSV header needs 'id' and 'text' columns, got {reader.fieldnames}", field="file")
    return [Note(str(row["id"]), row["text"] or "") for row in reader]


def _jsonl_notes(text: str) -> list[Note]:
    notes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"file line {number} is not JSON", field="file") from None
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
            raise UserError(f"file line {number}: expected an object with 'id' and a string 'text'", field="file")
        notes.append(Note(str(row["id"]), row["text"]))
    return notes
