"""Upload size limits per file type: how large a PDF, a Word document, HTML, text, JSON or CSV may be.

A file's type is what its bytes are (``sniff.reader_for``: a PDF or a Word document whatever its name) and,
for text, what its extension says. The limits come from ``MOESAIC_UPLOAD_LIMITS_MB`` as ``type=MiB`` pairs
(``pdf=100,csv=20``; parsed by ``moesaic.config``); the types not named keep their defaults. An upload over its type's limit is a 413 that
names the file, its size, the type, the limit and the setting.
"""

from __future__ import annotations

from moesaic.errors import PayloadTooLarge

MIB = 1 << 20
SETTING = "MOESAIC_UPLOAD_LIMITS_MB"
# reader extension (``reader_for``) -> upload type (the types of ``moesaic.config.DEFAULT_UPLOAD_LIMITS_MB``)
TYPE_OF_READER = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text",
                  ".markdown": "text", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def largest_bytes(limits: dict[str, float]) -> int:
    """The largest limit of any type, in bytes: what a route reads at most before it knows the type."""
    return int(max(limits.values()) * MIB)


def check_size(filename: str, reader: str, size: int, limits: dict[str, float]) -> None:
    """Raise a 413 naming the type and its limit when ``size`` bytes are over the limit of the file's type."""
    kind = TYPE_OF_READER.get(reader, "text")
    limit = limits[kind]
    if size > limit * MIB:
        raise PayloadTooLarge(
            f"{filename!r} is {size / MIB:.1f} MiB; {kind} uploads may be at most {limit:g} MiB ({SETTING}, "
            f"e.g. {kind}={limit * 2:g})", field="file")
