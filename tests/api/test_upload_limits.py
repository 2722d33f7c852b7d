"""Upload size limits per file type (issue 16): each type has its own limit (``MOESAIC_UPLOAD_LIMITS_MB``), the
type is what the bytes are (a PDF named .txt is held to the PDF limit), and an upload over it is a 413 in the
OpenAI error shape that names the type, the limit and the setting; a bad setting stops the start naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from moesaic.config import DEFAULT_UPLOAD_LIMITS_MB, Settings, load_settings, parse_upload_limits
from moesaic.errors import ConfigError
from tests.conftest import DATASETS_DIR

KIB = 1024 / 2**20  # one KiB in MiB
LIMITS = f"pdf={2 * KIB},docx={2 * KIB},html={KIB},text={KIB},json={2 * KIB},csv={3 * KIB}"
UPLOAD = "/v1/knowledge-bases/default/documents"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=DATASETS_DIR,
                    upload_limits_mb=LIMITS)


def _upload(client, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return client.post(UPLOAD, files={"file": (name, data, "application/octet-stream")})


def test_each_type_is_held_to_its_own_limit(client) -> None:  # type: ignore[no-untyped-def]
    text = b"Returns are accepted within 30 days. " * 54  # 1998 bytes: over text's 1 KiB, under csv's 3 KiB
    for name in ("notes.txt", "notes.md"):
        response = _upload(client, name, text)
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["param"] == "file" and error["type"] == "invalid_request_error"
        assert f"text uploads may be at most {KIB:g} MiB" in error["message"] and "MOESAIC_UPLOAD_LIMITS_MB" in error["message"]
        assert name in error["message"]
    assert _upload(client, "table.csv", b"question,answer\n" + b"returns,30 days\n" * 120).status_code == 201
    assert _upload(client, "small.txt", text[:900]).status_code == 201
    assert sorted(d["filename"] for d in client.get(UPLOAD).json()["data"]) == ["small.txt", "table.csv"]


def test_the_type_is_what_the_bytes_are(client) -> None:  # type: ignore[no-untyped-def]
    pdf_named_txt = b"%PDF-1.4\n" + b"0" * 2200  # under nothing but text's limit by name; held to pdf's by content
    response = _upload(client, "report.txt", pdf_named_txt)
    assert response.status_code == 413 and "pdf uploads may be at most" in response.json()["error"]["message"]


def test_over_the_largest_limit_is_refused_before_it_is_read_whole(client) -> None:  # type: ignore[no-untyped-def]
    response = _upload(client, "huge.csv", b"a,b\n" * 4000)
    assert response.status_code == 413
    message = response.json()["error"]["message"]
    assert "the largest upload any type may be" in message and f"csv {3 * KIB:g} MiB" in message


def test_the_limits_are_documented_in_the_openapi_schema(client) -> None:  # type: ignore[no-untyped-def]
    operation = client.get("/openapi.json").json()["paths"]["/v1/knowledge-bases/{kb}/documents"]["post"]
    assert "413" in operation["responses"] and "MOESAIC_UPLOAD_LIMITS_MB" in operation["description"]


def test_the_setting_is_parsed_and_a_bad_one_is_named(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert parse_upload_limits("") == DEFAULT_UPLOAD_LIMITS_MB
    assert parse_upload_limits(" PDF=100 , csv=0.5") == {**DEFAULT_UPLOAD_LIMITS_MB, "pdf": 100, "csv": 0.5}
    for bad in ("zip=5", "pdf=lots", "pdf=0", "csv=99999"):
        monkeypatch.setenv("MOESAIC_UPLOAD_LIMITS_MB", bad)
        with pytest.raises(ConfigError, match="MOESAIC_UPLOAD_LIMITS_MB"):
            load_settings()
