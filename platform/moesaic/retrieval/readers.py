"""Turn an uploaded file's bytes into plain text with its structure kept as Markdown headings.

This is the only module that imports llama-index (its CSV reader). It does not
chunk (``chunking``) or embed (``embeddings``). Headings come out as ``# ...`` lines and paragraphs
as blank-line-separated blocks, so the chunker can respect structure for every format.
Any failure to read a file raises ``ParseError`` with a message a user can act on.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moesaic.retrieval.sniff import UnsupportedContent, reader_for

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".csv", ".json", ".jsonl")


class ParseError(Exception):
    """The file cannot be read; permanent, so the job fails without retrying."""


@dataclass(frozen=True)
class ReadLimits:
    """What reading one document may cost: a time limit (checked between paragraphs, pages and blocks), the
    bytes a Word document may unpack to (zip bombs), and the number of paragraphs, pages or rows."""

    parse_seconds: float = 60.0
    max_unpacked_bytes: int = 200 * 2**20
    max_blocks: int = 200_000

    @classmethod
    def from_settings(cls, settings: Any) -> "ReadLimits":
        return cls(settings.ingest_parse_timeout_s, settings.ingest_max_unpacked_mb * 2**20, settings.ingest_max_blocks)


class Deadline:
    """The time limit of reading one file; ``tick`` is called once per paragraph, page or block."""

    def __init__(self, filename: str, limits: ReadLimits) -> None:
        self.filename = filename
        self.limits = limits
        self.ends = time.monotonic() + limits.parse_seconds
        self.count = 0

    def tick(self, unit: str) -> None:
        self.count += 1
        if self.count > self.limits.max_blocks:
            raise ParseError(f"{self.filename!r} has more than {self.limits.max_blocks:,} {unit}s, the limit "
                             "(MOESAIC_INGEST_MAX_BLOCKS); split the document")
        if self.count % 64 == 0 and time.monotonic() > self.ends:
            raise ParseError(f"reading {self.filename!r} took longer than {self.limits.parse_seconds:g} s "
                             f"(MOESAIC_INGEST_PARSE_TIMEOUT_S) and was stopped after {self.count:,} {unit}s; "
                             "split the document")


@dataclass(frozen=True)
class ExtractedText:
    text: str
    title: str = ""


def extension_of(filename: str) -> str:
    return Path(filename).suffix.lower()


def is_supported(filename: str) -> bool:
    return extension_of(filename) in SUPPORTED_EXTENSIONS


def extract_text(filename: str, data: bytes, limits: ReadLimits = ReadLimits()) -> ExtractedText:
    """Read ``data`` as what it is (``sniff``): a PDF or Word document whatever its name, text as the text
    format its extension names; anything else is a ``ParseError`` naming the file and what it looks like."""
    if not is_supported(filename):
        raise ParseError(f"unsupported file type {extension_of(filename)!r}; supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    try:
        ext = reader_for(filename, data)
    except UnsupportedContent as exc:
        raise ParseError(str(exc)) from None
    deadline = Deadline(filename, limits)
    try:
        if ext in (".txt", ".md", ".markdown"):
            result = ExtractedText(_decode(data))
        elif ext in (".html", ".htm"):
            result = _read_html(data, deadline)
        elif ext == ".pdf":
            result = _read_pdf(data, deadline)
        elif ext == ".docx":
            check_docx_archive(filename, data, limits)
            result = _read_docx(data, deadline)
        elif ext == ".csv":
            result = ExtractedText(_read_csv(data))
        elif ext == ".json":
            result = ExtractedText(_json_to_text(json.loads(_decode(data))))
        elif ext == ".jsonl":
            lines = [line for line in _decode(data).splitlines() if line.strip()]
            result = ExtractedText("\n\n".join(_json_to_text(json.loads(line)) for line in lines))
        else:
            raise ParseError(f"unsupported file type {ext!r}; supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    except ParseError:
        raise
    except Exception as exc:  # every reader has its own exception zoo; report it readably
        last_attempt = getattr(exc, "last_attempt", None)  # llama-index wraps some readers in tenacity
        if last_attempt is not None and last_attempt.exception() is not None:
            exc = last_attempt.exception()
        kind = ext.lstrip(".").upper() or "file"
        raise ParseError(f"could not read {kind} file {filename!r}: {type(exc).__name__}: {exc}") from exc
    text = result.text.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise ParseError(f"no text could be extracted from {filename!r}")
    return ExtractedText(text=text, title=result.title.strip())


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_html(data: bytes, deadline: Deadline) -> ExtractedText:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    blocks: list[str] = []
    root = soup.body or soup
    for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "table", "blockquote"]):
        deadline.tick("block")
        if element.find_parent(["p", "li", "table", "blockquote", "pre"]) is not None:
            continue  # nested block: its text is already part of the parent (or of its table's rows)
        if element.name == "table":
            blocks.extend(_table_rows(element))
            continue
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name and element.name[0] == "h" and element.name[1:].isdigit():
            blocks.append("#" * int(element.name[1:]) + " " + text)
        else:
            blocks.append(text)
    if not blocks:  # no block markup at all: take the text as it is
        blocks = [" ".join(root.get_text(" ", strip=True).split())]
    return ExtractedText("\n\n".join(blocks), title)


def _table_rows(table: Any) -> list[str]:
    """One block per row, ``column: value`` joined by `` | `` when the table has a header row (like CSV
    rows), the cells joined by `` | `` otherwise; so a row stays one searchable, quotable line."""
    def cells(row: Any) -> list[str]:
        return [" ".join(cell.get_text(" ", strip=True).split()) for cell in row.find_all(["th", "td"], recursive=False)]

    rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
    caption = table.find("caption")
    blocks = [" ".join(caption.get_text(" ", strip=True).split())] if caption is not None else []
    header: list[str] = []
    if rows and rows[0].find("td", recursive=False) is None and rows[0].find("th", recursive=False) is not None:
        header, rows = cells(rows[0]), rows[1:]
    for row in rows:
        values = cells(row)
        if header and len(values) == len(header):
            line = " | ".join(f"{name}: {value}" if name else value for name, value in zip(header, values) if value)
        else:
            line = " | ".join(value for value in values if value)
        if line:
            blocks.append(line)
    return [block for block in blocks if block]


def _read_pdf(data: bytes, deadline: Deadline) -> ExtractedText:
    from pypdf import PdfReader

    pages = []
    for page in PdfReader(io.BytesIO(data)).pages:
        deadline.tick("page")
        text = (page.extract_text() or "").strip()
        if text:
            pages.append(text)
    return ExtractedText("\n\n".join(pages))


ENTITY_MARKS = (b"<!ENTITY", b"<!DOCTYPE")  # never in a Word document's XML; the start of entity-expansion bombs


def check_docx_archive(filename: str, data: bytes, limits: ReadLimits) -> None:
    """Refuse a Word document that unpacks to more than the limit (a zip bomb), declares XML entities (an
    XML bomb) or holds more paragraphs than the limit, before the XML parser sees it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ParseError(f"{filename!r} is not a readable Word document ({exc})") from None
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise ParseError(f"{filename!r} unpacks to {unpacked / 2**20:,.0f} MiB from {len(data) / 2**20:,.1f} MiB, over the "
                         f"limit of {limits.max_unpacked_bytes / 2**20:,.0f} MiB (MOESAIC_INGEST_MAX_UNPACKED_MB); refused "
                         "as a possible zip bomb")
    for member in members:
        if not member.filename.endswith((".xml", ".rels")):
            continue
        with archive.open(member) as part:
            xml = part.read(limits.max_unpacked_bytes + 1)
        if any(mark in xml for mark in ENTITY_MARKS):
            raise ParseError(f"{filename!r} declares XML entities in {member.filename} (<!DOCTYPE>/<!ENTITY>); "
                             "refused as a possible XML bomb")
        if member.filename == "word/document.xml":
            paragraphs = xml.count(b"<w:p>") + xml.count(b"<w:p ")
            if paragraphs > limits.max_blocks:
                raise ParseError(f"{filename!r} has {paragraphs:,} paragraphs, over the limit of {limits.max_blocks:,} "
                                 "(MOESAIC_INGEST_MAX_BLOCKS); split the document")


def _read_docx(data: bytes, deadline: Deadline) -> ExtractedText:
    import docx

    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    for paragraph in document.paragraphs:
        deadline.tick("paragraph")
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.startswith("Heading") and style[7:].strip().isdigit():
            blocks.append("#" * min(int(style[7:]), 6) + " " + text)
        elif style == "Title":
            blocks.append("# " + text)
        else:
            blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            deadline.tick("table row")
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                blocks.append(" | ".join(cells))
    title = (document.core_properties.title or "").strip()
    return ExtractedText("\n\n".join(blocks), title)


def _read_csv(data: bytes) -> str:
    from llama_index.readers.file import PagedCSVReader

    text = _decode(data)
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_text(text, encoding="utf-8")
        rows = PagedCSVReader(encoding="utf-8").load_data(path, delimiter=delimiter)
    return "\n\n".join(row.text for row in rows)  # one "column: value" block per row


def _json_to_text(value: object, prefix: str = "") -> str:
    """Flatten JSON to ``key.path: value`` fields, one block each (so each is its own sentence to
    search and quote: ``support_hours.saturday: 10:00-14:00``)."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, (dict, list)):
                nested = _json_to_text(item, name)
                if nested:
                    lines.append(nested)
            elif item is not None and str(item).strip():
                lines.append(f"{name}: {item}")
        return "\n\n".join(lines)
    if isinstance(value, list):
        parts = [_json_to_text(item, prefix) for item in value]
        return "\n\n".join(part for part in parts if part)
    return f"{prefix}: {value}" if prefix else str(value)
