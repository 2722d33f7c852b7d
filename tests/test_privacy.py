import logging

import pytest

from moesaic.privacy import PiiVault, RedactingFilter, redact

TEXT = ("Mail jane.doe@example.com or call +1 415-555-0134; card 4111 1111 1111 1111; "
        "order #W2378156, zip 19122, SSN 123-45-6789")


def test_redact_tags_pii_and_leaves_order_ids_and_zips() -> None:
    assert redact(TEXT) == "Mail [EMAIL] or call [PHONE]; card [CARD]; order #W2378156, zip 19122, SSN [SSN]"


def test_card_numbers_must_pass_luhn() -> None:
    assert redact("ref 4111 1111 1111 1112") == "ref 4111 1111 1111 1112"


def test_vault_round_trip_reuses_placeholders() -> None:
    vault = PiiVault()
    hidden = vault.hide(TEXT + " again jane.doe@example.com")
    assert "jane.doe" not in hidden and hidden.count("<EMAIL_1>") == 2
    assert vault.reveal(hidden) == TEXT + " again jane.doe@example.com"


def test_log_filter_redacts_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("moesaic.test_privacy")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="moesaic.test_privacy"):
        logger.info("user %s wrote", "jane.doe@example.com")
    assert caplog.records[-1].getMessage() == "user [EMAIL] wrote"


def test_public_ips_are_pii_but_loopback_and_private_ranges_are_not() -> None:
    assert redact("from 203.0.113.9 via 127.0.0.1, 10.1.2.3, 172.20.0.5") == "from [IP] via 127.0.0.1, 10.1.2.3, 172.20.0.5"


def test_log_filter_keeps_arguments_that_formatters_unpack() -> None:
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("203.0.113.9:5000", "GET", "/v1/chat?email=jane.doe@example.com", "1.1", 200), None)
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '[IP]:5000 - "GET /v1/chat?email=[EMAIL] HTTP/1.1" 200 OK'
