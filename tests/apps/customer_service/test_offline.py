"""Offline mode: the real ExtractiveModel over the customer_service app, through the API.

Policy questions are answered from the ingested knowledge with citations; lookups run when the
message carries an order id; out-of-scope requests are refused by the scope gate; anything else gets
the honest fallback that offers a person, and asking for one really hands the conversation off.
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.customer_service.gate import REFUSAL
from apps.customer_service.knowledge import OFFLINE_FALLBACK
from moesaic.llm import ExtractiveModel
from moesaic.llm.extractive import NO_MODEL_NOTE
from tests.apps.customer_service.conftest import Shop


@pytest.fixture
def cs_model() -> Any:
    return ExtractiveModel()


def answer_text(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"])


def test_policy_question_is_answered_from_the_policy_with_a_citation(shop: Shop) -> None:
    answer = shop.send("Can an order be cancelled after it was delivered?")
    text = answer_text(answer)
    assert text.startswith(NO_MODEL_NOTE)
    assert "only if its status is 'pending'" in text
    assert shop.documents["policy.md"] in {c["document_id"] for c in answer["citations"]}
    assert OFFLINE_FALLBACK not in text


def test_order_id_runs_the_lookup_and_shows_a_readable_summary(shop: Shop) -> None:
    answer = shop.send("I am ada.lane@example.com. Where is my order #W1000002?")
    assert [(e["name"], e["arguments"]) for e in answer["tool_events"]][-1] == (
        "get_order_details", '{"order_id": "#W1000002"}')
    text = answer_text(answer)
    assert "Order #W1000002: delivered" in text
    assert "- Headphones (type: over-ear, color: black): $149.00" in text
    assert "Shipment: tracking 500000000001" in text
    assert '"order_id"' not in text and "12 Orchard Way" not in text  # no raw JSON, no street address


def test_out_of_scope_request_is_refused(shop: Shop) -> None:
    answer = shop.send("Can you book me a flight to Paris next Friday?")
    assert answer_text(answer) == REFUSAL
    assert answer["choices"][0]["finish_reason"] == "out_of_scope"
    assert answer["tool_events"] == []


def test_unclear_request_gets_the_handoff_offer_and_the_handoff_works(shop: Shop) -> None:
    answer = shop.send("I'm really upset, this is the third time this happens to me!")
    assert OFFLINE_FALLBACK in answer_text(answer)
    assert answer["tool_events"] == [] and answer["conversation_state"] == "active"

    handed = shop.send("ok, talk to a person", answer["conversation_id"])
    assert [e["name"] for e in handed["tool_events"]] == ["transfer_to_human_agents"]
    assert handed["conversation_state"] == "handed_off"
    inbox = shop.client.get("/v1/inbox", params={"app": "customer_service"}).json()["data"]
    assert answer["conversation_id"] in {c["id"] for c in inbox}
