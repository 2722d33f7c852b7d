"""What a file is, from its bytes: a file is parsed by what it is, not by what its name says.

``sniff`` looks at the magic numbers and, for everything else, at whether the bytes are text (valid UTF-8
or UTF-16 with its byte order mark, or 8-bit text with almost no control characters). ``reader_for``
picks the reader: a PDF or a Word document is read as one whatever its name; text is read as the text
format its extension names (HTML is recognised without one); anything else (images, archives, programs,
random bytes) is refused with ``UnsupportedContent`` naming the file and what it looks like.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

from moesaic.errors import UserError

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".csv", ".json", ".jsonl")
SAMPLE_BYTES = 1 << 20  # text detection reads at most the first MiB
MAX_CONTROL_RATIO = 0.005  # share of control characters text may hold (form feeds, stray escapes)
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "an ELF program"),
    (b"MZ", "a Windows program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc/.xls/.ppt; save it as .docx or PDF)"),
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
    (b"RIFF", "a RIFF media file (WAV/AVI/WebP)"),
)
CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


class UnsupportedContent(UserError):
    """The file's bytes are not a kind Moesaic can read (whatever its name says)."""

    status = 415


def sniff(data: bytes) -> str:
    """``pdf``, ``docx``, ``text`` or a description of what else the bytes are (``a PNG image``...)."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return _zip_kind(data) if kind == "zip" else kind
    if _is_text(data[:SAMPLE_BYTES]):
        return "text"
    return "binary data"


def reader_for(filename: str, data: bytes) -> str:
    """The reader for ``data``: ``.pdf``, ``.docx`` or a text extension; raises ``UnsupportedContent``."""
    kind = sniff(data)
    ext = PurePath(filename).suffix.lower()
    if kind in ("pdf", "docx"):
        return "." + kind
    if kind == "text":
        if ext in TEXT_EXTENSIONS:
            return ext
        head = data[:2048].lstrip().lower()
        return ".html" if head.startswith((b"<!doctype html", b"<html")) else ".txt"
    raise UnsupportedContent(
        f"{filename!r} is {kind}, not a document Moesaic can read (its name says {ext or 'nothing'}); upload text, "
        "Markdown, HTML, CSV, JSON, PDF or Word (.docx)",
        field="file",
    )


def _zip_kind(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "a damaged ZIP archive"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "an Excel workbook (.xlsx; export it as CSV)"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation (.pptx; save it as PDF)"
    return "a ZIP archive"


def _is_text(sample: bytes) -> bool:
    """UTF-16 with its byte order mark, or 8-bit text (UTF-8, Latin-1, Windows-1252: any bytes above 0x7f)
    with no NUL and almost no other control characters."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            sample[: len(sample) // 2 * 2].decode("utf-16")
            return True
        except UnicodeDecodeError:
            return False
    if b"\x00" in sample:
        return False
    controls = len(sample) - len(sample.translate(None, CONTROL_BYTES))
    return controls <= MAX_CONTROL_RATIO * len(sample)
