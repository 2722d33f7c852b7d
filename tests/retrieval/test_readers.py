from __future__ import annotations

import io
import json

import pytest

from moesaic.retrieval.readers import ParseError, extract_text


def make_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF with text (xref offsets computed)."""
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Warranty"
    document.add_heading("Coverage", level=1)
    document.add_paragraph("Batteries are covered for two years.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_reads_every_supported_format_keeping_structure() -> None:
    html = b"<html><head><title>FAQ</title><script>x()</script></head><body><h2>Refunds</h2><p>Paid in <b>5</b> days.</p></body></html>"
    cases = {
        "a.txt": (b"plain words", ["plain words"]),
        "a.md": (b"# Head\n\nbody", ["# Head", "body"]),
        "a.html": (html, ["## Refunds", "Paid in 5 days."]),
        "a.pdf": (make_pdf(["Invoices are due in 30 days."]), ["Invoices are due in 30 days."]),
        "a.docx": (make_docx(), ["# Coverage", "Batteries are covered for two years."]),
        "a.csv": (b"sku,name\nA1,Red shoe\nB2,Blue hat\n", ["sku: A1\nname: Red shoe", "name: Blue hat"]),
        "a.json": (json.dumps({"faq": [{"q": "Hours?", "a": "9-5"}]}).encode(), ["faq.q: Hours?", "faq.a: 9-5"]),
        "a.jsonl": (b'{"q": "Hours?"}\n{"q": "Returns?"}\n', ["q: Hours?\n\nq: Returns?"]),
    }
    for filename, (data, expected) in cases.items():
        extracted = extract_text(filename, data)
        for piece in expected:
            assert piece in extracted.text, (filename, extracted.text)
    assert extract_text("a.html", html).title == "FAQ"
    assert "x()" not in extract_text("a.html", html).text
    assert extract_text("a.docx", make_docx()).title == "Warranty"


def test_unreadable_files_raise_a_readable_parse_error() -> None:
    with pytest.raises(ParseError, match=r"could not read PDF file 'x.pdf': \w+"):
        extract_text("x.pdf", b"%PDF-1.4 not really")
    with pytest.raises(ParseError, match="could not read JSON"):
        extract_text("x.json", b"{nope")
    with pytest.raises(ParseError, match="no text could be extracted"):
        extract_text("x.txt", b"   \n ")
    with pytest.raises(ParseError, match="unsupported file type '.exe'"):
        extract_text("x.exe", b"MZ")


SHIPPING_TABLE = b"""<html><body><h1>Shipping rates</h1><p>Our rates by region.</p>
<table><tr><th>Region</th><th>Standard</th><th>Express</th></tr>
<tr><td>Europe</td><td>5 dollars</td><td>15 dollars</td></tr>
<tr><td>Asia</td><td>9 dollars</td><td>25 dollars</td></tr></table>
<table><tr><td>Gift wrap</td><td>3 dollars</td></tr></table></body></html>"""
SUPPORT_JSON = json.dumps({"company": "Acme", "support_hours": {"weekdays": "09:00-18:00", "saturday": "10:00-14:00"},
                           "contact": {"email": "help@acme.example"}}).encode()


def test_html_table_rows_stay_whole_with_their_column_names() -> None:
    blocks = extract_text("rates.html", SHIPPING_TABLE).text.split("\n\n")
    assert blocks == ["# Shipping rates", "Our rates by region.",
                      "Region: Europe | Standard: 5 dollars | Express: 15 dollars",
                      "Region: Asia | Standard: 9 dollars | Express: 25 dollars",
                      "Gift wrap | 3 dollars"]


def test_json_fields_are_key_path_blocks() -> None:
    blocks = extract_text("support.json", SUPPORT_JSON).text.split("\n\n")
    assert blocks == ["company: Acme", "support_hours.weekdays: 09:00-18:00", "support_hours.saturday: 10:00-14:00",
                      "contact.email: help@acme.example"]
