"""Tool branches the 74 training tasks never reach, checked against the dataset's TOOLS.md.

Synthetic "held-out-like" tasks built on the real db.json run through ``replay`` in compat mode. Each
result is checked two ways: hand-written expectations derived from TOOLS.md's text (exact error
strings, state changes, key order), and byte-for-byte against ``reference_sim`` (an independent
plain-dict model of the reference that re-dumps and re-hashes the whole DB for every task).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moesaic.db import Database

from apps.customer_service import tools
from apps.customer_service.export import db_sha256, export_store, tau2_db_hash
from apps.customer_service.replay import (
    REPLAY_TENANT,
    _engine_over,
    build_template,
    fresh_store,
    replay_tasks,
    run_action,
)
from apps.customer_service.seed import load_store_data
from apps.customer_service.store import RetailStore
from tests.apps.customer_service.conftest import call
from tests.apps.customer_service.reference_sim import simulate


def _a(name: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    return name, arguments


ADDRESS = {
    "address1": "1 Ünïcode Road",
    "address2": "",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78701",
}

TASKS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    # ava_nguyen_6646: credit card order, a gift card with 78.0.
    "payment_checks_then_cancel": [
        _a(
            "modify_pending_order_payment",
            order_id="#W8367380",
            payment_method_id="gift_card_1994993",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W8367380",
            payment_method_id="credit_card_5683823",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W8367380",
            payment_method_id="paypal_7160322",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W0000000",
            payment_method_id="gift_card_1994993",
        ),
        _a("modify_pending_order_address", order_id="#W8367380", **ADDRESS),
        _a("cancel_pending_order", order_id="#W8367380", reason="changed my mind"),
        _a("cancel_pending_order", order_id="#W8367380", reason="no longer needed"),
        _a("cancel_pending_order", order_id="#W8367380", reason="no longer needed"),
        _a("modify_pending_order_address", order_id="#W8367380", **ADDRESS),
    ],
    # ethan_lopez_6291: order paid 4079.45 by gift card (balance 49.0); pay by card, then cancel.
    "gift_card_swap_then_cancel_refunds_every_entry": [
        _a(
            "modify_pending_order_payment",
            order_id="#W6779827",
            payment_method_id="credit_card_9789590",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W6779827",
            payment_method_id="gift_card_7219486",
        ),
        _a("cancel_pending_order", order_id="#W6779827", reason="ordered by mistake"),
        _a("get_user_details", user_id="ethan_lopez_6291"),
    ],
    "modify_items_insufficient_gift_card": [
        _a(
            "modify_pending_order_items",
            order_id="#W6779827",
            item_ids=["7896397433"],
            new_item_ids=["3877338112"],
            payment_method_id="gift_card_7219486",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W6779827",
            item_ids=["7896397433"],
            new_item_ids=["6171242004"],
            payment_method_id="gift_card_7219486",
        ),
    ],
    # harper_kovacs_8617: pending, items 3557711149 (x2, Backpack 205.35) and 8917609800 (Wall Clock 195.59).
    "modify_items_checks_and_duplicates": [
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"] * 3,
            new_item_ids=["3928046918"] * 3,
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"],
            new_item_ids=[],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"],
            new_item_ids=["3557711149"],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"],
            new_item_ids=["8030558068"],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"],
            new_item_ids=["9850781806"],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149"],
            new_item_ids=["3928046918"],
            payment_method_id="gift_card_0000000",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3557711149", "3557711149", "8917609800"],
            new_item_ids=["3928046918", "6309044598", "9850781806"],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_items",
            order_id="#W9093821",
            item_ids=["3928046918"],
            new_item_ids=["7251508981"],
            payment_method_id="credit_card_7422485",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W9093821",
            payment_method_id="credit_card_7422485",
        ),
        _a("cancel_pending_order", order_id="#W9093821", reason="no longer needed"),
        _a("modify_pending_order_address", order_id="#W9093821", **ADDRESS),
    ],
    # harper_brown_7363: delivered, paid by paypal; 8590708195 (Fleece Jacket 157.61) twice.
    "exchange_checks_and_self_exchange": [
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"] * 3,
            new_item_ids=["9385662952"] * 3,
            payment_method_id="paypal_2306935",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"],
            new_item_ids=["9385662952", "9385662952"],
            payment_method_id="paypal_2306935",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195", "8590708195"],
            new_item_ids=["8590708195", "4728397765"],
            payment_method_id="paypal_2306935",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"],
            new_item_ids=["9385662952"],
            payment_method_id="gift_card_0000000",
        ),
        _a(
            "return_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"],
            payment_method_id="credit_card_3240550",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195", "6534134392", "8590708195"],
            new_item_ids=["8590708195", "8610532516", "9385662952"],
            payment_method_id="paypal_2306935",
        ),
        _a(
            "return_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"],
            payment_method_id="paypal_2306935",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=["8590708195"],
            new_item_ids=["9385662952"],
            payment_method_id="paypal_2306935",
        ),
    ],
    "empty_exchange": [
        _a(
            "exchange_delivered_order_items",
            order_id="#W1840144",
            item_ids=[],
            new_item_ids=[],
            payment_method_id="paypal_2306935",
        ),
    ],
    # emma_santos_9753: delivered, paid by credit card; gift card with 36.0.
    "gift_card_exchange_and_return": [
        _a(
            "exchange_delivered_order_items",
            order_id="#W3113816",
            item_ids=["4422467033"],
            new_item_ids=["3877338112"],
            payment_method_id="gift_card_6023546",
        ),
        _a(
            "return_delivered_order_items",
            order_id="#W3113816",
            item_ids=["2206116040", "2206116040"],
            payment_method_id="gift_card_6023546",
        ),
        _a(
            "return_delivered_order_items",
            order_id="#W3113816",
            item_ids=["4843487907", "2206116040"],
            payment_method_id="gift_card_6023546",
        ),
        _a("get_order_details", order_id="#W3113816"),
    ],
    "not_pending_or_not_delivered": [
        _a("cancel_pending_order", order_id="#W2611340", reason="no longer needed"),
        _a("modify_pending_order_address", order_id="#W2611340", **ADDRESS),
        _a(
            "modify_pending_order_items",
            order_id="#W2611340",
            item_ids=[],
            new_item_ids=[],
            payment_method_id="gift_card_1725971",
        ),
        _a(
            "modify_pending_order_payment",
            order_id="#W3220387",
            payment_method_id="paypal_5716091",
        ),
        _a(
            "exchange_delivered_order_items",
            order_id="#W2611340",
            item_ids=[],
            new_item_ids=[],
            payment_method_id="gift_card_1725971",
        ),
        _a(
            "return_delivered_order_items",
            order_id="#W2611340",
            item_ids=[],
            payment_method_id="gift_card_1725971",
        ),
        _a("cancel_pending_order", order_id="W2611340", reason="no longer needed"),
    ],
    "lookups_and_generic_tools": [
        _a("find_user_id_by_email", email="NOAH.BROWN7922@EXAMPLE.COM"),
        _a("find_user_id_by_email", email="noah.brown7922@example.org"),
        _a(
            "find_user_id_by_name_zip",
            first_name="noah",
            last_name="BROWN",
            zip="80279",
        ),
        _a(
            "find_user_id_by_name_zip",
            first_name="Noah",
            last_name="Brown",
            zip="80279 ",
        ),
        _a("modify_user_address", user_id="noah_brown_6181", **ADDRESS),
        _a(
            "find_user_id_by_name_zip",
            first_name="Noah",
            last_name="Brown",
            zip="78701",
        ),
        _a("modify_user_address", user_id="nobody_0000", **ADDRESS),
        _a("get_user_details", user_id="nobody_0000"),
        _a("get_item_details", item_id="6469567736"),
        _a("get_item_details", item_id="8310926033"),
        _a("get_product_details", product_id="6469567736"),
        _a("get_order_details", order_id="9502126"),
        _a("list_all_product_types"),
        _a("calculate", expression=" (24.99 + 18) * 2 "),
        _a("calculate", expression="0.1 + 0.2"),
        _a("calculate", expression="2 ** 0.5"),
        _a("calculate", expression="7 // 0"),
        _a("calculate", expression="()"),
        _a("calculate", expression="(1"),
        _a("calculate", expression="2 % 3"),
        _a("transfer_to_human_agents", summary="wants a human"),
        _a("refund_everything", order_id="#W2611340"),
        _a("get_order_details", order_id="#W2611340", verbose=True),
        _a("modify_pending_order_payment", order_id="#W2611340"),
        _a("modify_user_address", user_id="noah_brown_6181"),
    ],
}


def _task(task_id: str, actions: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "id": task_id,
        "initial_state": None,
        "evaluation_criteria": {
            "actions": [
                {"action_id": f"{task_id}_{i}", "name": name, "arguments": arguments}
                for i, (name, arguments) in enumerate(actions)
            ]
        },
    }


@pytest.fixture(scope="module")
def data(tau2_dir: Path) -> dict[str, Any]:
    return load_store_data(tau2_dir / "db.json")


@pytest.fixture(scope="module")
def results(data: dict[str, Any]) -> dict[str, Any]:
    return replay_tasks(
        data, [_task(k, v) for k, v in TASKS.items()], reference_compat=True
    )


def outputs(results: dict[str, Any], task_id: str) -> list[str]:
    return [action["output"] for action in results[task_id]["actions"]]


@pytest.mark.parametrize("task_id", list(TASKS))
def test_compat_replay_matches_an_independent_model_of_the_reference(
    results: dict[str, Any], data: dict[str, Any], task_id: str
) -> None:
    expected = simulate(data, _task(task_id, TASKS[task_id]))
    mine = results[task_id]
    assert mine["actions"] == expected["actions"]
    assert json.dumps(mine["changed"], sort_keys=True) == json.dumps(
        expected["changed"], sort_keys=True
    )
    assert (mine["db_sha256"], mine["tau2_db_hash"]) == (
        expected["db_sha256"],
        expected["tau2_db_hash"],
    )


def test_modify_payment_and_cancel_checks(results: dict[str, Any]) -> None:
    out = outputs(results, "payment_checks_then_cancel")
    assert out[:4] == [
        "Error: Insufficient gift card balance to pay for the order",
        "Error: The new payment method should be different from the current one",
        "Error: Payment method not found",  # another user's paypal
        "Error: Order not found",
    ]
    address = json.loads(out[4])["address"]
    assert list(address) == ["address1", "address2", "city", "country", "state", "zip"]
    assert (
        address["address1"] == "1 Ünïcode Road" and "\\u00dc" in out[4]
    )  # json.dumps' ensure_ascii
    assert out[5] == "Error: Invalid reason"
    cancelled = json.loads(out[6])
    assert (
        cancelled["status"] == "cancelled"
        and cancelled["cancel_reason"] == "no longer needed"
    )
    assert cancelled["payment_history"] == [
        {
            "transaction_type": "payment",
            "amount": 1003.22,
            "payment_method_id": "credit_card_5683823",
        },
        {
            "transaction_type": "refund",
            "amount": 1003.22,
            "payment_method_id": "credit_card_5683823",
        },
    ]
    assert out[7] == "Error: Non-pending order cannot be cancelled"
    assert out[8] == "Error: Non-pending order cannot be modified"
    # A credit-card refund leaves the user untouched.
    assert set(results["payment_checks_then_cancel"]["changed"]["users"]) == set()


def test_cancel_refunds_every_history_entry_to_gift_cards(
    results: dict[str, Any],
) -> None:
    out = outputs(results, "gift_card_swap_then_cancel_refunds_every_entry")
    swapped = json.loads(out[0])
    assert swapped["status"] == "pending"
    assert swapped["payment_history"][1:] == [
        {
            "transaction_type": "payment",
            "amount": 4079.45,
            "payment_method_id": "credit_card_9789590",
        },
        {
            "transaction_type": "refund",
            "amount": 4079.45,
            "payment_method_id": "gift_card_7219486",
        },
    ]
    assert out[1] == "Error: There should be exactly one payment for a pending order"
    cancelled = json.loads(out[2])
    assert [p["transaction_type"] for p in cancelled["payment_history"]] == [
        "payment"
    ] * 2 + ["refund"] * 4
    # 49.0 + 4079.45 (swap) + 4079.45 (refund of the original payment) + 4079.45 (refund of the refund entry)
    user = json.loads(out[3])
    assert user["payment_methods"]["gift_card_7219486"] == {
        "source": "gift_card",
        "id": "gift_card_7219486",
        "balance": round(round(round(49.0 + 4079.45, 2) + 4079.45, 2) + 4079.45, 2),
    }
    assert list(user) == [
        "user_id",
        "name",
        "address",
        "email",
        "payment_methods",
        "orders",
    ]


def test_modify_items_gift_card_balance(results: dict[str, Any]) -> None:
    out = outputs(results, "modify_items_insufficient_gift_card")
    assert (
        out[0] == "Error: Insufficient gift card balance to pay for the new item"
    )  # +87.87 > 49.0
    order = json.loads(out[1])  # 457.81 -> 462.84: a payment of 5.03 from the gift card
    assert order["payment_history"][-1]["transaction_type"] == "payment"
    assert order["payment_history"][-1]["amount"] == pytest.approx(5.03)
    changed = results["modify_items_insufficient_gift_card"]["changed"]
    assert changed["users"]["ethan_lopez_6291"]["payment_methods"]["gift_card_7219486"][
        "balance"
    ] == round(49.0 - (462.84 - 457.81), 2)


def test_modify_items_check_order_and_last_variant_quirk(
    results: dict[str, Any],
) -> None:
    out = outputs(results, "modify_items_checks_and_duplicates")
    assert out[:6] == [
        "Error: 3557711149 not found",
        "Error: The number of items to be exchanged should match",
        "Error: The new item id should be different from the old item id",
        "Error: New item 8030558068 not found or available",
        "Error: Variant not found",  # a Wall Clock id for a Backpack
        "Error: Payment method not found",
    ]
    order = json.loads(out[6])
    assert order["status"] == "pending (item modified)"
    diff = (198.0 - 205.35) + (218.59 - 205.35) + (184.48 - 195.59)
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": abs(diff),  # unrounded in compat mode
        "payment_method_id": "credit_card_7422485",
    }
    items = order["items"]
    assert [i["item_id"] for i in items][:3] == [
        "3928046918",
        "9850781806",
        "6309044598",
    ]
    # Every changed item takes the last pair's (the Wall Clock's) price and options.
    wall_clock_options = items[1]["options"]
    assert [i["price"] for i in items[:3]] == [184.48] * 3
    assert items[0]["options"] == items[2]["options"] == wall_clock_options
    assert items[0]["name"] == "Backpack"  # name and product_id are left alone
    assert out[7:] == [
        "Error: Non-pending order cannot be modified",
        "Error: There should be exactly one payment for a pending order",
        "Error: Non-pending order cannot be cancelled",
    ] + [out[10]]
    assert (
        json.loads(out[10])["status"] == "pending (item modified)"
    )  # the address may still change


def test_exchange_checks_self_exchange_and_sorting(results: dict[str, Any]) -> None:
    out = outputs(results, "exchange_checks_and_self_exchange")
    assert out[:5] == [
        "Error: Number of 8590708195 not found.",
        "Error: The number of items to be exchanged should match.",
        "Error: New item 4728397765 not found or available",
        "Error: Payment method not found",
        "Error: Payment method should be the original payment method",
    ]
    order = json.loads(out[5])
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == ["6534134392", "8590708195", "8590708195"]
    assert order["exchange_new_items"] == ["8590708195", "8610532516", "9385662952"]
    assert order["exchange_payment_method_id"] == "paypal_2306935"
    assert order["exchange_price_difference"] == round(
        (203.76 - 196.15) + (159.92 - 157.61), 2
    )
    assert order["items"][2]["item_id"] == "8590708195"  # items and payments untouched
    assert len(order["payment_history"]) == 1
    assert out[6] == "Error: Non-delivered order cannot be returned"
    assert out[7] == "Error: Non-delivered order cannot be exchanged"
    keys = list(order)
    assert keys[-7:] == [
        "cancel_reason",
        "exchange_items",
        "exchange_new_items",
        "exchange_payment_method_id",
        "exchange_price_difference",
        "return_items",
        "return_payment_method_id",
    ]


def test_empty_exchange_stores_the_int_zero_like_the_reference(
    results: dict[str, Any],
) -> None:
    result = results["empty_exchange"]
    assert '"exchange_price_difference": 0, ' in result["actions"][0]["output"]
    record = result["changed"]["orders"]["#W1840144"]
    assert json.dumps(record["exchange_price_difference"]) == "0"
    assert record["exchange_items"] == [] and record["status"] == "exchange requested"


def test_gift_card_exchange_and_return(results: dict[str, Any]) -> None:
    out = outputs(results, "gift_card_exchange_and_return")
    assert (
        out[0]
        == "Error: Insufficient gift card balance to pay for the price difference"
    )  # 62.21 > 36.0
    assert out[1] == "Error: Some item not found"
    returned = json.loads(out[2])
    assert returned["status"] == "return requested"
    assert returned["return_items"] == ["2206116040", "4843487907"]
    assert returned["return_payment_method_id"] == "gift_card_6023546"
    assert json.loads(out[3]) == returned
    changed = results["gift_card_exchange_and_return"]["changed"]
    assert (
        set(changed["orders"]) == {"#W3113816"} and changed["users"] == {}
    )  # no refund, no balance change
    assert (
        "cancel_reason" not in changed["orders"]["#W3113816"]
    )  # db.json shape: only keys a tool set


def test_status_checks(results: dict[str, Any]) -> None:
    assert outputs(results, "not_pending_or_not_delivered") == [
        "Error: Non-pending order cannot be cancelled",
        "Error: Non-pending order cannot be modified",
        "Error: Non-pending order cannot be modified",
        "Error: Non-pending order cannot be modified",  # cancelled
        "Error: Non-delivered order cannot be exchanged",
        "Error: Non-delivered order cannot be returned",
        "Error: Order not found",
    ]
    assert results["not_pending_or_not_delivered"]["changed"] == {
        "orders": {},
        "users": {},
        "products": {},
    }


def test_lookups_generic_tools_and_argument_errors(results: dict[str, Any]) -> None:
    out = outputs(results, "lookups_and_generic_tools")
    assert out[:4] == [
        "noah_brown_6181",
        "Error: User not found",
        "noah_brown_6181",
        "Error: User not found",
    ]
    user = json.loads(out[4])
    assert user["address"] == {
        k: ADDRESS[k]
        for k in ("address1", "address2", "city", "country", "state", "zip")
    }
    assert out[5] == "noah_brown_6181"  # the lookup sees the new default address
    assert out[6:8] == ["Error: User not found"] * 2
    assert list(json.loads(out[8])) == ["item_id", "options", "available", "price"]
    assert out[9:12] == [
        "Error: Item not found",
        "Error: Product not found",
        "Error: Order not found",
    ]
    product_types = json.loads(out[12])
    assert list(product_types) == sorted(product_types) and len(product_types) == 50
    assert out[12].startswith('{"') and '": "' in out[12]
    assert out[13:20] == [
        "85.98",
        "0.3",
        "1.41",
        "Error: integer division or modulo by zero",
        "Error: float() argument must be a string or a real number, not 'tuple'",
        "Error: '(' was never closed (<string>, line 1)",
        "Error: Invalid characters in expression",
    ]
    assert out[20] == "Transfer successful"
    assert out[21:] == [
        "Error: Tool 'refund_everything' not found.",
        "Error: RetailTools.get_order_details() got an unexpected keyword argument 'verbose'",
        "Error: RetailTools.modify_pending_order_payment() missing 1 required positional argument: 'payment_method_id'",
        (
            "Error: RetailTools.modify_user_address() missing 6 required positional arguments: "
            "'address1', 'address2', 'city', 'state', 'country', and 'zip'"
        ),
    ]
    changed = results["lookups_and_generic_tools"]["changed"]
    assert set(changed["users"]) == {"noah_brown_6181"} and changed["orders"] == {}


def test_calculate_matches_python_eval_and_guards_huge_powers(ctx: Any) -> None:
    def run(expression: str) -> str:
        result = call(tools.calculate, ctx, expression=expression)
        return result.output

    assert run("2 ** 10") == "1024.0"
    assert (
        run("(-1) ** 0.5")
        == "Error: float() argument must be a string or a real number, not 'complex'"
    )
    assert run("10 ** 400") == "Error: int too large to convert to float"
    assert run("2 ** 1100 / 2 ** 1099") == "2.0"
    assert (
        run("9 ** 9 ** 9") == "Error: int too large to convert to float"
    )  # refused at once, not computed
    assert run("1()") == "Error: 'int' object is not callable"
    assert run("01") == (
        "Error: leading zeros in decimal integer literals are not permitted; "
        "use an 0o prefix for octal integers (<string>, line 1)"
    )
    assert run("") == "Error: invalid syntax (<string>, line 0)"


def test_replay_hashes_equal_a_full_export_after_multi_step_writes(
    data: dict[str, Any], results: dict[str, Any]
) -> None:
    task = _task(
        "gift_card_swap_then_cancel_refunds_every_entry",
        TASKS["gift_card_swap_then_cancel_refunds_every_entry"],
    )
    template = build_template(data)
    working, engine = fresh_store(template)
    platform_db = Database("sqlite://")
    try:
        from tests.apps.customer_service.conftest import make_context

        ctx = make_context(platform_db, RetailStore(engine), tenant_id=REPLAY_TENANT, reference_compat=True)
        for action in task["evaluation_criteria"]["actions"]:
            run_action(ctx, action)
        with _engine_over(working).connect() as connection:
            final = export_store(connection, REPLAY_TENANT)
    finally:
        engine.dispose()
        template.close()
        platform_db.dispose()
    mine = results["gift_card_swap_then_cancel_refunds_every_entry"]
    assert (db_sha256(final), tau2_db_hash(final)) == (
        mine["db_sha256"],
        mine["tau2_db_hash"],
    )
