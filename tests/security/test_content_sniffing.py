"""Finding 7 of issue 16: a file is read as what it is. Random binary named ``.txt`` (or an image named ``.md``,
an archive named ``.docx``) is refused at upload with a 415 naming the file, and nothing is stored; a Word
document or a PDF named ``.txt`` is read as one; 8-bit and UTF-16 text are still text."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from moesaic.retrieval.readers import ParseError, extract_text
from moesaic.retrieval.sniff import sniff
from tests.retrieval.test_readers import make_docx, make_pdf

RANDOM = random.Random(16).randbytes(64 * 1024)
PNG = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(2048)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "plain notes in an archive")
    return buffer.getvalue()


def _upload(client, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return client.post("/v1/knowledge-bases/default/documents", files={"file": (name, data, "application/octet-stream")})


@pytest.mark.parametrize(
    ("name", "data", "looks_like"),
    [("notes.txt", RANDOM, "binary data"), ("readme.md", PNG, "a PNG image"), ("report.docx", _zip(), "a ZIP archive"),
     ("data.csv", b"\x7fELF\x02\x01\x01" + RANDOM[:512], "an ELF program"), ("page.html", RANDOM[:200], "binary data")],
)
def test_binary_under_a_text_name_is_refused_naming_the_file(client, name: str, data: bytes, looks_like: str) -> None:  # type: ignore[no-untyped-def]
    response = _upload(client, name, data)
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["param"] == "file" and repr(name) in error["message"] and looks_like in error["message"], error
    listing = client.get("/v1/knowledge-bases/default/documents")
    assert listing.status_code == 404 or listing.json()["data"] == [], listing.text  # nothing stored


def test_a_word_document_and_a_pdf_named_txt_are_read_as_what_they_are(client) -> None:  # type: ignore[no-untyped-def]
    platform = client.app.state.platform
    ids = [_upload(client, "word.txt", make_docx()).json()["id"],
           _upload(client, "scan.txt", make_pdf(["Invoices are due in 30 days."])).json()["id"]]
    platform.knowledge.wait(ids, timeout=60)
    for document_id in ids:
        assert client.get(f"/v1/knowledge-bases/default/documents/{document_id}").json()["status"] == "indexed"
    hits = client.get("/v1/knowledge-bases/default/search", params={"q": "batteries covered", "mode": "keyword"}).json()["data"]
    assert hits and "Batteries are covered for two years." in hits[0]["text"] and "<w:" not in hits[0]["text"]
    hits = client.get("/v1/knowledge-bases/default/search", params={"q": "invoices due", "mode": "keyword"}).json()["data"]
    assert hits and "Invoices are due in 30 days." in hits[0]["text"] and "endobj" not in hits[0]["text"]


def test_text_in_other_encodings_is_still_text() -> None:
    latin1 = "Garantie für Akkus: zwei Jahre. Café, naïve, Ångström.\f\n".encode("latin-1")
    utf16 = "Returns within 30 days.\nŁódź office.".encode("utf-16")
    assert sniff(latin1) == sniff(utf16) == sniff("plain ascii\ttabs\r\n".encode()) == "text"
    assert "Akkus" in extract_text("de.txt", latin1).text
    assert extract_text("pl.txt", utf16).text == "Returns within 30 days.\nŁódź office."
    assert extract_text("saved-as.pdf", b"<!DOCTYPE html><html><body><h1>Hours</h1><p>Open 9-5.</p></body></html>").text \
        == "# Hours\n\nOpen 9-5."


def test_the_worker_refuses_binary_too_naming_the_file() -> None:
    # documents queued before this release (or by code that bypasses the upload route) fail with the real cause
    with pytest.raises(ParseError, match=r"'old\.txt' is binary data, not a document Moesaic can read"):
        extract_text("old.txt", RANDOM)
