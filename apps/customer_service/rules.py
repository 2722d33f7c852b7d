"""Offline rules: tool calls the extractive (no-LLM) model can derive from a customer's message.

They only propose *read* tools (order, user and product lookups) and the handoff to a person; writes
always need a real model and the customer's confirmation. This module parses text; it does not run tools.
"""

from __future__ import annotations

import re

from moesaic.apps import RuleCall

ORDER_ID = re.compile(r"#\s?(W\d{7})\b", re.IGNORECASE)
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
ZIP = re.compile(r"\b(\d{5})\b")
PRODUCT_ID = re.compile(r"\bproduct(?:\s+id)?\s*(?:#|:|is)?\s*(\d{10})\b", re.IGNORECASE)
ITEM_ID = re.compile(r"\bitem(?:\s+id)?\s*(?:#|:|is)?\s*(\d{10})\b", re.IGNORECASE)
# "I am Yusuf Rossi", "my name is Yusuf Rossi", "this is Yusuf Rossi"; the name must be capitalised.
NAME = re.compile(r"(?:\bmy name is|\bI am|\bI'm|\bthis is)\s+([A-Z][a-z'-]+)\s+([A-Z][a-z'-]+)")
# "talk to a person", "can I speak to a human", "transfer me to an agent", "representative please"
HUMAN = re.compile(
    r"\b(talk|speak|chat)\s+(to|with)\s+(a|an|some)?\s*(real\s+)?(person|human|agent|operator|representative)\b"
    r"|\btransfer\s+me\b|\b(human|real person|representative)\s+please\b|\b(want|need)\s+a\s+(human|person)\b",
    re.IGNORECASE,
)


def offline_rules(text: str) -> list[RuleCall]:
    """Lookups worth running for ``text``: order ids, an email, a name with a zip code, product/item ids;
    a request for a person hands the conversation to one (the fallback answer offers that)."""
    calls: list[RuleCall] = []
    seen: set[tuple[str, str]] = set()

    def add(tool: str, **arguments: str) -> None:
        key = (tool, repr(sorted(arguments.items())))
        if key not in seen:
            seen.add(key)
            calls.append(RuleCall(tool=tool, arguments=arguments))

    email = EMAIL.search(text)
    if email:
        add("find_user_id_by_email", email=email.group(0))
    name, zip_code = NAME.search(text), ZIP.search(text)
    if name and zip_code and not email:
        add("find_user_id_by_name_zip", first_name=name.group(1), last_name=name.group(2), zip=zip_code.group(1))
    for match in ORDER_ID.finditer(text):
        add("get_order_details", order_id="#" + match.group(1).upper())
    for match in PRODUCT_ID.finditer(text):
        add("get_product_details", product_id=match.group(1))
    for match in ITEM_ID.finditer(text):
        add("get_item_details", item_id=match.group(1))
    if HUMAN.search(text):
        add("transfer_to_human_agents", summary=f"The customer asked for a person (offline mode): {text.strip()[:300]}")
    return calls
