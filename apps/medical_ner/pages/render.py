"""HTML and rows for the medical entities page: the note with its entities highlighted, the legend, the table.

Pure functions of the API's answers (standard library only, like every module of a console page).
An entity is the API's ``{start, end, text, label, assertion, score, source}``; offsets index the note.
Every piece of the note is HTML-escaped; whitespace and line breaks are kept as written.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

# label -> (background, border and badge colour)
LABEL_COLOURS: dict[str, tuple[str, str]] = {
    "problem": ("#fde2e1", "#b42318"),
    "treatment": ("#dcf5e3", "#1a7f37"),
    "test": ("#dde8fb", "#1f4fb4"),
}
ASSERTIONS = ("present", "absent", "possible", "hypothetical", "conditional", "associated_with_someone_else")
# How an assertion other than "present" changes the highlight (the badge always names it).
ASSERTION_STYLES: dict[str, str] = {
    "absent": "text-decoration: line-through;",
    "possible": "border-style: dashed;",
    "hypothetical": "border-style: dotted;",
    "conditional": "border-style: dotted;",
    "associated_with_someone_else": "font-style: italic;",
}
ASSERTION_SHORT = {"associated_with_someone_else": "someone else"}
_UNKNOWN = ("#eeeeee", "#555555")


def _mark(entity: Mapping[str, Any]) -> str:
    label, assertion = str(entity["label"]), str(entity["assertion"])
    background, colour = LABEL_COLOURS.get(label, _UNKNOWN)
    badge = label if assertion == "present" else f"{label} · {ASSERTION_SHORT.get(assertion, assertion)}"
    style = (f"background: {background}; border: 1px solid {colour}; border-radius: 4px; padding: 0 3px; "
             f"{ASSERTION_STYLES.get(assertion, '')}")
    return (f'<mark class="entity" data-label="{html.escape(label)}" data-assertion="{html.escape(assertion)}" '
            f'title="{html.escape(label)}, {html.escape(assertion)}" style="{style}">{html.escape(str(entity["text"]))}'
            f'<span style="color: {colour}; font-size: 0.7em; font-weight: 600; margin-left: 3px; '
            f'text-decoration: none; display: inline-block;">{html.escape(badge)}</span></mark>')


def highlighted_html(text: str, entities: Iterable[Mapping[str, Any]]) -> tuple[str, int]:
    """The note as HTML with each entity marked (colour per label, assertion in a badge), and how many
    entities overlap an earlier one and so are left unmarked (the table still lists them)."""
    pieces, cursor, overlapping = [], 0, 0
    for entity in sorted(entities, key=lambda e: (int(e["start"]), -int(e["end"]))):
        start, end = int(entity["start"]), int(entity["end"])
        if start < cursor or end > len(text) or text[start:end] != entity["text"]:
            overlapping += 1
            continue
        pieces.append(html.escape(text[cursor:start]))
        pieces.append(_mark(entity))
        cursor = end
    pieces.append(html.escape(text[cursor:]))
    body = "".join(pieces)
    return (f'<div class="medical-note" style="white-space: pre-wrap; line-height: 2.1; font-size: 0.95rem; '
            f'border: 1px solid #d0d0d0; border-radius: 6px; padding: 10px 12px;">{body}</div>', overlapping)


def legend_html(labels: Iterable[str] = tuple(LABEL_COLOURS)) -> str:
    """One chip per label in its colour, and how each assertion status is drawn."""
    chips = []
    for label in labels:
        background, colour = LABEL_COLOURS.get(label, _UNKNOWN)
        chips.append(f'<span class="legend-label" data-label="{html.escape(label)}" style="background: {background}; '
                     f'border: 1px solid {colour}; border-radius: 4px; padding: 1px 6px; margin-right: 6px;">'
                     f'{html.escape(label)}</span>')
    styles = [f'<span style="border: 1px solid #888; border-radius: 4px; padding: 0 4px; margin-right: 4px; '
              f'{ASSERTION_STYLES.get(a, "")}">{html.escape(ASSERTION_SHORT.get(a, a))}</span>' for a in ASSERTIONS]
    return (f'<div class="legend" style="font-size: 0.85rem; line-height: 2;"><b>Labels:</b> {"".join(chips)}<br>'
            f'<b>Assertion</b> (named in each badge; present has none): {"".join(styles)}</div>')


def entity_rows(entities: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Table rows, in text order."""
    return [{"start": int(e["start"]), "end": int(e["end"]), "text": e["text"], "label": e["label"],
             "assertion": e["assertion"], "score": None if e.get("score") is None else round(float(e["score"]), 3),
             "source": e.get("source")}
            for e in sorted(entities, key=lambda e: (int(e["start"]), int(e["end"])))]


def result_rows(jsonl: bytes, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` notes of a job's JSONL results, one row each (id, counts, entities in brief)."""
    rows = []
    for line in jsonl.decode("utf-8").splitlines()[:limit]:
        record = json.loads(line)
        entities = record.get("entities") or []
        rows.append({"id": record["id"], "entities": len(entities),
                     "found": "; ".join(f"{e['text']} ({e['label']}, {e['assertion']})" for e in entities)})
    return rows
