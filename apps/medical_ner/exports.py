"""Batch results as downloads: JSONL (one note per line) and BRAT standoff (a zip of .txt/.ann pairs).

A results line is ``{"id", "text", "entities": [{start, end, text, label, assertion, score, source}]}``.
In BRAT, each entity is a text-bound annotation ``T<n>  <label> <start> <end>  <text>``; an entity that
crosses a line break is written as fragments (``start end;start end``), as BRAT requires, and its
assertion is an attribute ``A<n>  Assertion T<n> <status>``. Offsets are characters of the note as
uploaded. File names are the note ids made safe (with a counter when two collide).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def brat_fragments(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) pieces of ``text[start:end]`` that hold no line break (line breaks themselves left out)."""
    fragments = []
    for match in re.finditer(r"[^\r\n]+", text[start:end]):
        fragments.append((start + match.start(), start + match.end()))
    return fragments


def brat_annotations(text: str, entities: Iterable[dict[str, Any]]) -> str:
    lines = []
    for number, entity in enumerate(entities, start=1):
        fragments = brat_fragments(text, entity["start"], entity["end"])
        where = ";".join(f"{s} {e}" for s, e in fragments)
        shown = " ".join(text[s:e] for s, e in fragments)
        lines.append(f"T{number}\t{entity['label']} {where}\t{shown}")
        lines.append(f"A{number}\tAssertion T{number} {entity['assertion']}")
    return "\n".join(lines) + ("\n" if lines else "")


def brat_zip(records: Iterable[dict[str, Any]]) -> bytes:
    """A zip with ``<id>.txt`` (the note, byte-exact UTF-8) and ``<id>.ann`` per note."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            base = _UNSAFE.sub("_", str(record["id"])).strip("._") or "note"
            name, counter = base, 1
            while name in used:
                counter += 1
                name = f"{base}_{counter}"
            used.add(name)
            archive.writestr(f"{name}.txt", record["text"].encode("utf-8"))
            archive.writestr(f"{name}.ann", brat_annotations(record["text"], record["entities"]).encode("utf-8"))
    return buffer.getvalue()


def read_results(path: Any) -> list[dict[str, Any]]:
    """The complete lines of a results file (a torn last line from a killed worker is ignored)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            records.append(json.loads(line))
    return records
