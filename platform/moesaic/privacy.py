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


class RedactingFilter(logging.Filter):
    """A logging filter that redacts PII from every record's message and arguments.

    Arguments keep their positions (formatters such as uvicorn's access log unpack them); numbers stay
    numbers, anything else becomes its redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


def _redact_arg(value: object) -> object:
    return value if isinstance(value, (int, float)) else redact(str(value))


def install_log_redaction(logger_names: tuple[str, ...] = ("moesaic", "apps", "uvicorn.access", "uvicorn.error")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
