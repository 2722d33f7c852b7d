"""Finding 1 of issue 16: no PII in anything the process logs.

Redaction must cover every logger (child loggers such as ``moesaic.api.errors`` included, whose records
never pass through a filter on ``moesaic``), URL-encoded text (``%40``, ``+`` separators), exception
messages and traceback text; SQL parameters are never logged."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from urllib.parse import quote_plus, unquote_plus

import httpx
import pytest

from moesaic import privacy
from tests.live import serve

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415-555-0134"
PII_TEXT = f"I am {EMAIL}, card {CARD}, call me on {PHONE}"


def leaked(output: str) -> list[str]:
    """The PII of this module found in ``output``, however it was encoded or separated."""
    text = unquote_plus(unquote_plus(output))
    squeezed = re.sub(r"[\s+\-.()]", "", text)
    found = []
    if "jane.doe" in text or "janedoe" in squeezed:
        found.append("email")
    if "4111111111111111" in squeezed:
        found.append("card")
    if "4155550134" in squeezed:
        found.append("phone")
    return found


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, through a handler on the root logger and on the loggers that
    do not propagate (uvicorn's)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    targets = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.access")]
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    for logger in targets:
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        for logger in targets:
            logger.removeHandler(handler)
        logging.getLogger().setLevel(root_level)


@pytest.mark.parametrize("name", ["moesaic.api.errors", "moesaic.tools.execute", "moesaic.retrieval.ingest",
                                  "apps.customer_service.store", "uvicorn.access", "sqlalchemy.engine", "some.library"])
def test_every_logger_redacts_messages_arguments_and_tracebacks(name: str, captured: io.StringIO) -> None:
    privacy.install_log_redaction()
    logger = logging.getLogger(name)
    logger.warning(f"raw {PII_TEXT}")
    logger.warning("encoded %s", f"/v1/search?q={quote_plus(PII_TEXT)}")
    logger.warning("twice encoded /v1/search?q=%s", quote_plus(quote_plus(EMAIL)))
    try:
        raise ValueError(f"could not store {PII_TEXT}")
    except ValueError:
        logger.exception("failed for %s", EMAIL)
    output = captured.getvalue()
    assert "could not store" in output and "Traceback" in output, output
    assert leaked(output) == [], output


def test_uvicorn_access_lines_keep_their_shape() -> None:
    assert privacy.redact_log_text("/v1/x?email=jane.doe%40example.com") == "/v1/x?email=[EMAIL]"
    assert privacy.redact_log_text("/v1/x?card=4111+1111+1111+1111") == "/v1/x?card=[CARD]"
    assert privacy.redact_log_text("/v1/x?q=tea%20time") == "/v1/x?q=tea%20time"  # no PII: left as it was


def test_api_routes_with_pii_log_none_of_it(platform, api_key, fake_model, captured, capfd) -> None:  # type: ignore[no-untyped-def]
    """A live uvicorn (access log on) driven with PII in bodies, query strings, a filename, and a model
    failure whose message holds the PII (an error path that logs a traceback)."""
    from moesaic.api.main import create_app

    fake_model.add(f"Noted, {EMAIL}.", RuntimeError(f"model crashed on {PII_TEXT}"))
    with serve(create_app(platform=platform), log_level="info") as base:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as http:
            chat = {"model": "kb_assistant", "messages": [{"role": "user", "content": PII_TEXT}]}
            assert http.post("/v1/chat/completions", json=chat).status_code == 200
            http.get("/v1/knowledge-bases/default/search", params={"q": PII_TEXT})
            http.get(f"/v1/conversations/{quote_plus(EMAIL)}")
            http.get(f"/v1/apps/kb_assistant/conversations?q={quote_plus(PII_TEXT)}")
            http.post("/v1/knowledge-bases/default/documents", files={"file": (f"{EMAIL} {CARD}.txt", PII_TEXT.encode(), "text/plain")})
            failed = http.post("/v1/chat/completions", json=chat)
            assert failed.status_code == 500
    output = captured.getvalue()
    out, err = capfd.readouterr()
    assert "/v1/chat/completions" in output  # the access log was captured
    assert "Traceback" in output or "Traceback" in err  # so was the failure's traceback
    assert leaked(output) == [], output
    assert leaked(out + err) == [], out + err
