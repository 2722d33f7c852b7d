"""PII redaction: before logs, and (optionally) before a model sees the conversation.

``redact`` replaces emails, phone numbers, payment card numbers (Luhn-checked), IBANs, US social
security numbers and public IPv4 addresses with a tag (loopback and private ranges are not PII). ``PiiVault`` does the same reversibly, with
numbered placeholders (``<EMAIL_1>``), so a model can still pass an email to a tool: the agent
restores the originals in tool arguments and in the answer. Names and street addresses are not
detected: pattern matching cannot find them reliably, and we do not pretend it can.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_PHONE = re.compile(r"(?<![\w#])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3}[ .-]\d{3,4}(?:[ .-]\d{2,4})?\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_PLACEHOLDER = re.compile(r"<(EMAIL|CARD|IBAN|SSN|PHONE|IP)_(\d+)>")


def _luhn_ok(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def _is_private_172(address: str) -> bool:
    first, second = address.split(".")[:2]
    return first == "172" and 16 <= int(second) <= 31


# (kind, pattern, extra check) in the order they are applied: cards before phones, so a card
# number is never half-eaten as a phone number.
_DETECTORS: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("EMAIL", _EMAIL, lambda s: True),
    ("IBAN", _IBAN, lambda s: True),
    ("CARD", _CARD, _luhn_ok),
    ("SSN", _SSN, lambda s: True),
    ("IP", _IPV4, lambda s: not s.startswith(("127.", "0.", "10.", "192.168.")) and not _is_private_172(s)),
    ("PHONE", _PHONE, lambda s: sum(c.isdigit() for c in s) >= 7),
]


def _replace(text: str, replace: Callable[[str, str], str]) -> str:
    for kind, pattern, check in _DETECTORS:

        def substitute(match: re.Match[str], kind: str = kind, check: Callable[[str], bool] = check) -> str:
            value = match.group(0)
            return replace(kind, value) if check(value) else value

        text = pattern.sub(substitute, text)
    return text


def redact(text: str) -> str:
    """Irreversibly tag PII: 'mail me at a@b.co' -> 'mail me at [EMAIL]'."""
    return _replace(text, lambda kind, _value: f"[{kind}]")


@dataclass
class PiiVault:
    """Reversible placeholders for one conversation turn."""

    originals: dict[str, str] = field(default_factory=dict)
    _by_value: dict[str, str] = field(default_factory=dict)

    def hide(self, text: str) -> str:
        def placeholder(kind: str, value: str) -> str:
            if value not in self._by_value:
                count = sum(1 for key in self.originals if key.startswith(f"<{kind}_")) + 1
                key = f"<{kind}_{count}>"
                self.originals[key] = value
                self._by_value[value] = key
            return self._by_value[value]

        return _replace(text, placeholder)

    def reveal(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), text)


def redact_log_text(text: str) -> str:
    """``redact`` for log lines: also finds PII that is URL-encoded (``jane%40example.com``,
    ``4111+1111+1111+1111``, twice-encoded ``%2540``). The text is returned unchanged when it holds no PII;
    otherwise the decoded, redacted form is returned."""
    redacted = redact(text)
    decoded = text
    for _ in range(3):  # undo at most three layers of encoding
        step = unquote_plus(decoded)
        if step == decoded:
            break
        decoded = step
    if decoded != text:
        redacted_decoded = redact(decoded)
        if redacted_decoded != decoded:
            return redacted_decoded
    return redacted


class RedactingFilter(logging.Filter):
    """A logging filter that redacts PII from a record's message, arguments, traceback and stack text.

    Arguments keep their positions (formatters such as uvicorn's access log unpack them); numbers stay
    numbers, anything else becomes its redacted text. ``install_log_redaction`` applies the same
    redaction to every record of every logger when it is created, so filters on single loggers (which
    child loggers' records never pass through) are not needed."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact ``record`` in place: message, arguments, exception text and stack text.

    The exception is formatted here, redacted, and kept as ``exc_text`` (which every ``logging.Formatter``
    prints); ``exc_info`` is dropped so no handler can format the raw exception again."""
    if getattr(record, "_moesaic_redacted", False):
        return record
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_redact_arg(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _redact_arg(v) for k, v in args.items()}
    if isinstance(record.msg, str):
        record.msg = redact_log_text(record.msg)
    else:
        record.msg = redact_log_text(str(record.msg))
    if record.args:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = None
        if message is not None and redact_log_text(message) != message:  # PII split across template and args
            record.msg, record.args = redact_log_text(message), ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact_log_text(_FORMATTER.formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact_log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_log_text(record.stack_info)
    record._moesaic_redacted = True
    return record


def _redact_arg(value: object) -> object:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return redact_log_text(str(value))  # exceptions too: log.warning("failed: %s", exc)


_FORMATTER = logging.Formatter()
_previous_factory: Callable[..., logging.LogRecord] | None = None


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _previous_factory is not None, "install_log_redaction sets the previous factory first"
    return redact_record(_previous_factory(*args, **kwargs))


def install_log_redaction() -> None:
    """Redact every log record of every logger (the root, ``moesaic.*``, apps', uvicorn's, libraries'),
    tracebacks included, as it is created. Idempotent; wraps any record factory installed before."""
    global _previous_factory
    current = logging.getLogRecordFactory()
    if current is _redacting_factory:
        return
    _previous_factory = current
    logging.setLogRecordFactory(_redacting_factory)
