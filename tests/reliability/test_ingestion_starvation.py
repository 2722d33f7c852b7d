"""Finding 3 of issue 16: ingestion cannot be starved. A document that would take too long to read, a zip bomb
or an XML bomb fails at once with a message naming the cause and the limit; a long parse keeps its job (the
lease is renewed, no second worker takes it); one tenant's backlog does not hold another tenant's upload."""

from __future__ import annotations

import io
import secrets
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from moesaic.config import Settings
from moesaic.retrieval.readers import ParseError, ReadLimits, extract_text
from tests.conftest import DATABASES, DATASETS_DIR, schema_database_url
from tests.retrieval.test_readers import make_docx

PARAGRAPH = b"<w:p><w:r><w:t>Batteries are covered for two years.</w:t></w:r></w:p>"


def docx_with(*, paragraphs: int = 0, doctype: bytes = b"", extra: tuple[str, bytes] | None = None,
              paragraph: bytes = PARAGRAPH) -> bytes:
    """A real Word document, with ``paragraphs`` more paragraphs, a DOCTYPE before its body, or one more part."""
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + paragraph * paragraphs)
                if doctype:
                    data = data.replace(b"?>", b"?>" + doctype, 1)
            target.writestr(item, data)
        if extra is not None:
            target.writestr(extra[0], extra[1])
    return out.getvalue()


XML_BOMB = (b'<!DOCTYPE w:document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from schema_database_url(request, tmp_path, "starve")  # the fair scheduler must see only this test's jobs


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=DATASETS_DIR, worker_concurrency=1,
                    ingest_max_unpacked_mb=10, ingest_parse_timeout_s=8, job_lease_seconds=1.0, ingest_worker=False)


@pytest.fixture
def platform(settings: Settings, fake_model):  # type: ignore[no-untyped-def]
    """The kb_assistant app without its own documents, so the worker runs only what each test uploads."""
    from apps.kb_assistant.manifest import APP
    from moesaic.services import Platform

    app = APP.model_copy(update={"knowledge_documents": None})
    built = Platform.create(settings, model=fake_model, apps={app.name: app})
    yield built
    built.close()


def _upload(client, name: str, data: bytes, key: str | None = None) -> str:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post("/v1/knowledge-bases/default/documents", files={"file": (name, data)}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _document(client, document_id: str, key: str | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(f"/v1/knowledge-bases/default/documents/{document_id}", headers=headers).json()  # type: ignore[no-any-return]


def _ingest_job(platform, document_id: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """The document's ingest job once it has finished: the worker marks the document before it closes the job."""
    from sqlalchemy import select

    from moesaic.jobs.tables import JobRecord

    deadline = time.monotonic() + timeout
    while True:
        with platform.db.session() as session:
            jobs = [j for j in session.scalars(select(JobRecord).where(JobRecord.kind == "ingest"))
                    if (j.payload or {}).get("document_id") == document_id]
            assert len(jobs) == 1
            job = jobs[0]
            if job.finished_at is not None or time.monotonic() > deadline:
                return job.state, job.attempts, job.error
        time.sleep(0.05)


@pytest.mark.parametrize(("name", "data", "cause"), [
    ("bomb.docx", docx_with(extra=("word/media/pad.bin", bytes(20 * 2**20))),
     "unpacks to 21 MiB from 0.1 MiB, over the limit of 10 MiB (MOESAIC_INGEST_MAX_UNPACKED_MB); refused as a possible zip bomb"),
    ("laughs.docx", docx_with(doctype=XML_BOMB), "declares XML entities in word/document.xml"),
    ("huge.docx", docx_with(paragraphs=250_000, paragraph=b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"),
     "has 250,002 paragraphs, over the limit of 200,000 (MOESAIC_INGEST_MAX_BLOCKS); split the document"),
    ("slow.docx", docx_with(paragraphs=30_000), "took longer than 8 s (MOESAIC_INGEST_PARSE_TIMEOUT_S) and was stopped after"),
])
def test_documents_that_would_starve_the_workers_fail_fast_naming_the_cause(  # type: ignore[no-untyped-def]
        platform, client, name: str, data: bytes, cause: str) -> None:
    document_id = _upload(client, name, data)
    started = time.monotonic()
    platform.knowledge.start()
    platform.knowledge.wait([document_id], timeout=60)
    elapsed = time.monotonic() - started
    document = _document(client, document_id)
    assert document["status"] == "failed", document
    assert cause in document["error"] and repr(name) in document["error"], document["error"]
    assert elapsed < 15, f"{name} held the worker for {elapsed:.0f} s"
    state, attempts, error = _ingest_job(platform, document_id)
    assert (state, attempts) == ("failed", 1) and cause in error  # no retries of a document that cannot be read


def test_reading_limits_apply_to_pdf_and_html_too() -> None:
    from tests.retrieval.test_readers import make_pdf

    with pytest.raises(ParseError, match=r"'many\.pdf' has more than 2 pages"):
        extract_text("many.pdf", _three_page_pdf(make_pdf), ReadLimits(max_blocks=2))
    html = b"<html><body>" + b"<p>row</p>" * 5000 + b"</body></html>"
    with pytest.raises(ParseError, match=r"reading 'page\.html' took longer than 1e-09 s .* stopped after 64 blocks"):
        extract_text("page.html", html, ReadLimits(parse_seconds=1e-9))


def _three_page_pdf(make_pdf) -> bytes:  # type: ignore[no-untyped-def]
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for line in ("one", "two", "three"):
        writer.add_page(PdfReader(io.BytesIO(make_pdf([line]))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_long_parse_keeps_its_job_no_second_worker_takes_it(platform, client) -> None:  # type: ignore[no-untyped-def]
    # about 2 s of reading with a 1 s job lease: the heartbeat must renew it, or the reaper hands it over
    document_id = _upload(client, "long.docx", docx_with(paragraphs=1_000))
    platform.knowledge.start()
    platform.knowledge.wait([document_id], timeout=60)
    document = _document(client, document_id)
    assert document["status"] == "indexed", document.get("error")
    state, attempts, _error = _ingest_job(platform, document_id)
    assert (state, attempts) == ("succeeded", 1)


def test_one_tenants_backlog_does_not_hold_another_tenants_upload(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    other = create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}")
    backlog = [_upload(client, f"manual-{i}.txt", f"Section {i}. The warranty covers part {i} for {i} months.".encode())
               for i in range(40)]
    small = _upload(client, "hours.txt", b"Opening hours: 9 to 5 on weekdays.", key=other)
    platform.knowledge.start()  # one consumer, one job at a time; the backlog came first
    platform.knowledge.wait([*backlog, small], timeout=180)
    assert _document(client, small, key=other)["status"] == "indexed"
    assert all(_document(client, d)["status"] == "indexed" for d in backlog)
    for document_id in [*backlog, small]:
        _ingest_job(platform, document_id)  # each job closed, so each has its finish time
    finished = {document_id: _finished_at(platform, document_id) for document_id in [*backlog, small]}
    after = sum(finished[d] > finished[small] for d in backlog)
    assert after >= 20, f"only {after} of the backlog's 40 documents were indexed after the small upload: it queued behind them"


def _finished_at(platform, document_id: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from moesaic.jobs.tables import JobRecord

    with platform.db.session() as session:
        return next(j.finished_at for j in session.scalars(select(JobRecord).where(JobRecord.kind == "ingest"))
                    if (j.payload or {}).get("document_id") == document_id)
