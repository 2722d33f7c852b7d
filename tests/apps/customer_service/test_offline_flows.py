"""Whole offline conversations (the real ExtractiveModel, no language model) that finish the customer's job.

The dialogue's state is kept in the conversation: each test sends its turns as separate requests, and one
of them builds a new platform in the middle (a restart) and carries on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.customer_service.dialogue import ASK_AUTH, ASK_REASON, CANT, REFUSALS, RETURN_OFFER
from apps.customer_service.prompts import IDENTITY_POLICY
from moesaic.llm import ExtractiveModel
from tests.apps.customer_service.conftest import Shop


@pytest.fixture
def cs_model() -> Any:
    return ExtractiveModel()


def text_of(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"])


def names(answer: dict[str, Any]) -> list[str]:
    return [e["name"] for e in answer["tool_events"]]


def test_authenticate_then_cancel_with_reason_restatement_and_yes(shop: Shop) -> None:
    first = shop.send("Hi, I want to cancel my order #W1000001")
    conversation = first["conversation_id"]
    assert text_of(first) == ASK_AUTH and first["tool_events"] == []

    second = shop.send("my email is ada.lane@example.com", conversation)
    assert names(second) == ["find_user_id_by_email", "get_order_details"]  # then it carries on with the cancellation
    assert ASK_REASON in text_of(second) and "T-Shirt" in text_of(second)

    third = shop.send("I ordered it by mistake", conversation)
    assert names(third) == ["cancel_pending_order"] and third["tool_events"][0]["error"] == "confirmation required"
    assert "To be sure, I will cancel order #W1000001" in text_of(third)
    assert "'ordered by mistake'" in text_of(third) and 'Reply "yes"' in text_of(third)
    assert shop.order("#W1000001")["status"] == "pending"

    done = shop.send("yes", conversation)
    assert names(done) == ["cancel_pending_order"] and done["tool_events"][0]["error"] is None
    assert text_of(done).startswith("Done: order #W1000001 is now cancelled")
    order = shop.order("#W1000001")  # the database shows it
    assert order["status"] == "cancelled" and order["cancel_reason"] == "ordered by mistake"
    assert shop.gift_card_balance("ada_lane_1001", "gift_card_1000002") == 102.99


def test_no_instead_of_yes_leaves_the_order_alone(shop: Shop) -> None:
    conversation = shop.send("I'm ada.lane@example.com, please cancel #W1000001, I no longer need it")["conversation_id"]
    assert shop.order("#W1000001")["status"] == "pending"
    answer = shop.send("no", conversation)
    assert answer["tool_events"] == [] and "I have not cancelled order #W1000001" in text_of(answer)
    assert shop.order("#W1000001")["status"] == "pending"


def test_another_customers_order_is_refused(shop: Shop) -> None:
    conversation = shop.send("I'm ada.lane@example.com")["conversation_id"]
    answer = shop.send("What is the status of order #W1000003?", conversation)  # Ben's
    assert [(e["name"], e["error"]) for e in answer["tool_events"]] == [("get_order_details", IDENTITY_POLICY.not_owner)]
    assert text_of(answer) == REFUSALS[IDENTITY_POLICY.not_owner]
    assert "Okafor" not in json.dumps(answer) and "480 Lake" not in json.dumps(answer)
    cancel = shop.send("then cancel #W1000004, ordered by mistake", conversation)  # Chen's
    assert cancel["tool_events"][0]["error"] == IDENTITY_POLICY.not_owner
    assert shop.order("#W1000004")["status"] == "pending"


def test_no_data_before_authentication_then_the_question_is_answered(shop: Shop) -> None:
    first = shop.send("what is the status of my order #W1000002?")
    assert text_of(first) == ASK_AUTH and first["tool_events"] == []
    dumped = json.dumps(first)
    assert "Headphones" not in dumped and "Orchard" not in dumped and "credit_card" not in dumped
    second = shop.send("I am Ada Lane, zip code 97201", first["conversation_id"])
    assert names(second) == ["find_user_id_by_name_zip", "get_order_details"]
    assert "Order #W1000002: delivered" in text_of(second)
    assert "12 Orchard Way" not in text_of(second)


def test_change_the_address_of_a_pending_order_across_a_restart(shop: Shop, settings_for_restart: Any) -> None:
    conversation = shop.send("I'm ada.lane@example.com and I need to change the shipping address of order #W1000001")["conversation_id"]
    restarted_client = settings_for_restart(shop)  # a new platform on the same database: the dialogue goes on
    held = send_with(restarted_client, "77 Pine Street, Unit 4, Seattle, WA, 98101, USA", conversation)
    assert [e["name"] for e in held["tool_events"]] == ["modify_pending_order_address"]
    content = held["choices"][0]["message"]["content"]
    assert "change the shipping address of order #W1000001 to 77 Pine Street, Unit 4, Seattle, WA 98101, USA" in content
    done = send_with(restarted_client, "yes", conversation)
    assert done["tool_events"][0]["error"] is None
    address = shop.order("#W1000001")["address"]
    assert (address["address1"], address["address2"], address["city"], address["state"], address["zip"]) == (
        "77 Pine Street", "Unit 4", "Seattle", "WA", "98101")


def test_change_the_customers_default_address(shop: Shop) -> None:
    conversation = shop.send("This is ben.okafor@example.com, I moved: please update my address")["conversation_id"]
    held = shop.send("5 Elm Street, none, Austin, TX 73344", conversation)
    assert held["tool_events"][0]["name"] == "modify_user_address"
    assert "default address of your account to 5 Elm Street, Austin, TX 73344, USA" in text_of(held)
    shop.send("yes", conversation)
    from apps.customer_service import tools
    from tests.apps.customer_service.conftest import call, make_context

    user = call(tools.get_user_details, make_context(shop.platform.db, shop.store, tenant_id=shop.tenant_id),
                user_id="ben_okafor_1002").value
    assert user["address"]["address1"] == "5 Elm Street" and user["address"]["zip"] == "73344"


def test_a_delivered_order_cannot_be_cancelled(shop: Shop) -> None:
    answer = shop.send("I'm ada.lane@example.com, cancel #W1000002 please")
    assert "Order #W1000002 is delivered, so it can't be cancelled" in text_of(answer)
    assert "cancel_pending_order" not in names(answer)


def test_a_return_points_to_the_form_and_is_offered_to_a_person_with_the_reason(shop: Shop) -> None:
    first = shop.send("I'm ada.lane@example.com. I want to return the headphones from #W1000002, they are broken")
    assert RETURN_OFFER in text_of(first) and "Returns & exchanges" in text_of(first)
    handed = shop.send("yes please", first["conversation_id"])
    assert names(handed) == ["transfer_to_human_agents"] and handed["conversation_state"] == "handed_off"
    summary = json.loads(handed["tool_events"][0]["arguments"])["summary"]
    assert "return" in summary and "#W1000002" in summary and "broken" in summary


def test_product_types_question_lists_them(shop: Shop) -> None:
    answer = shop.send("Do you sell laptops? What product types do you have?")
    assert names(answer) == ["list_all_product_types"]
    assert text_of(answer).startswith("No, we don't sell laptops. We sell 3 kinds of products: Headphones, T-Shirt, Water Bottle.")


def test_a_product_question_shows_the_product(shop: Shop) -> None:
    answer = shop.send("Is the water bottle available, and at what price?")
    assert names(answer) == ["list_all_product_types", "get_product_details"]
    assert "Water Bottle (product 1000000002)" in text_of(answer)


def test_a_bare_yes_is_not_answered_with_faq_sentences(shop: Shop) -> None:
    answer = shop.send("yes")
    assert answer["tool_events"] == [] and "I'm not sure what you are answering" in text_of(answer)


def test_a_payment_change_is_offered_to_a_person(shop: Shop) -> None:
    answer = shop.send("I'm ada.lane@example.com, I want to change the payment method of #W1000001 to another card")
    assert CANT in text_of(answer)


# ---------------------------------------------------------------- a restart in the middle


@pytest.fixture
def settings_for_restart():  # type: ignore[no-untyped-def]
    opened: list[Any] = []

    def restart(shop: Shop) -> Any:
        from fastapi.testclient import TestClient

        from apps.customer_service.manifest import APP
        from moesaic.api.main import create_app
        from moesaic.services import Platform

        platform = Platform.create(shop.platform.settings, model=ExtractiveModel(), apps={APP.name: APP})
        client = TestClient(create_app(platform=platform))
        client.__enter__()
        client.headers["Authorization"] = shop.client.headers["Authorization"]
        opened.append((platform, client))
        return client

    yield restart
    for platform, client in opened:
        client.__exit__(None, None, None)
        platform.close()


def send_with(client: Any, text: str, conversation_id: str) -> dict[str, Any]:
    response = client.post("/v1/chat/completions", json={"model": "customer_service", "conversation_id": conversation_id,
                                                          "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text
    return dict(response.json())
