"""Each tenant has a store of its own: a key of tenant ``acme`` cannot reach an order of the default
tenant's store (tools and chat API), and two tenants hold the same user and order ids independently."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.customer_service import tools
from sqlalchemy import func, select

from apps.customer_service.export import export_store
from apps.customer_service.manifest import APP
from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data, seed_store, validate_store_data
from apps.customer_service.store import Order
from moesaic.apps import ToolContext
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.llm import ExtractiveModel, FakeChatModel
from moesaic.llm.fake import call as model_call
from moesaic.llm.fake import reply_with_tools
from moesaic.access import create_api_key, ensure_tenant
from tests.apps.customer_service.conftest import run_setup, Shop, call

ONLY_DEFAULT = "#W9000001"  # the default tenant's copy of the demo store calls #W1000001 this


def default_store_data() -> dict[str, Any]:
    """The demo store with order #W1000001 renamed ``ONLY_DEFAULT``: an order no other tenant has."""
    data = copy.deepcopy(load_store_data(DEMO_STORE_PATH))
    data["orders"] = {
        (ONLY_DEFAULT if order_id == "#W1000001" else order_id): order for order_id, order in data["orders"].items()
    }
    data["orders"][ONLY_DEFAULT]["order_id"] = ONLY_DEFAULT
    user = data["users"][data["orders"][ONLY_DEFAULT]["user_id"]]
    user["orders"] = [ONLY_DEFAULT if order_id == "#W1000001" else order_id for order_id in user["orders"]]
    validate_store_data(data)
    return data


@pytest.fixture
def platform_db(fresh_database_url: str) -> Iterator[Database]:
    db = Database(fresh_database_url)
    db.migrate(version_locations=[APP.migrations])
    yield db
    db.dispose()


@pytest.fixture
def services(platform_db: Database, tmp_path: Path) -> dict[str, Any]:
    """The app's services as the platform builds them: every tenant's store is seeded from the demo store."""
    return run_setup(platform_db, Settings(home=tmp_path / "home", datasets_dir=tmp_path / "no-data"))


def tenant_context(db: Database, services: dict[str, Any], tenant: str) -> ToolContext:
    return ToolContext(ensure_tenant(db, tenant), "c1", "customer_service", db, Settings(), services=services)


def test_acme_cannot_look_up_or_change_an_order_of_the_default_tenants_store(
    platform_db: Database, services: dict[str, Any]
) -> None:
    default = tenant_context(platform_db, services, "default")
    seed_store(platform_db.engine, default_store_data(), default.tenant_id)
    acme = tenant_context(platform_db, services, "acme")

    assert call(tools.get_order_details, acme, order_id=ONLY_DEFAULT).error == "Order not found"
    refused = call(tools.cancel_pending_order, acme, order_id=ONLY_DEFAULT, reason="no longer needed")
    assert refused.error == "Order not found"
    assert ONLY_DEFAULT not in call(tools.get_user_details, acme, user_id="ada_lane_1001").value["orders"]

    mine = call(tools.get_order_details, default, order_id=ONLY_DEFAULT)
    assert mine.error is None and mine.value["status"] == "pending"
    assert call(tools.get_order_details, default, order_id="#W1000001").error == "Order not found"
    assert call(tools.get_order_details, acme, order_id="#W1000001").value["status"] == "pending"  # acme's own


def test_two_tenants_hold_the_same_ids_independently(platform_db: Database, services: dict[str, Any]) -> None:
    first = tenant_context(platform_db, services, "first")
    second = tenant_context(platform_db, services, "second")
    for ctx in (first, second):  # each store is seeded from the demo store on first use
        assert call(tools.find_user_id_by_email, ctx, email="ada.lane@example.com").output == "ada_lane_1001"

    cancelled = call(tools.cancel_pending_order, first, order_id="#W1000001", reason="no longer needed")
    assert cancelled.error is None
    moved = call(tools.modify_user_address, first, user_id="ada_lane_1001", address1="1 New St", address2="",
                 city="Salem", state="OR", country="USA", zip="97301")
    assert moved.error is None

    assert call(tools.get_order_details, first, order_id="#W1000001").value["status"] == "cancelled"
    assert call(tools.get_order_details, second, order_id="#W1000001").value["status"] == "pending"
    ada_first = call(tools.get_user_details, first, user_id="ada_lane_1001").value
    ada_second = call(tools.get_user_details, second, user_id="ada_lane_1001").value
    assert ada_first["payment_methods"]["gift_card_1000002"]["balance"] == 102.99
    assert ada_second["payment_methods"]["gift_card_1000002"]["balance"] == 60.0
    assert ada_first["address"]["city"] == "Salem" and ada_second["address"]["city"] != "Salem"
    assert call(tools.find_user_id_by_name_zip, first, first_name="Ada", last_name="Lane", zip="97301").output == (
        "ada_lane_1001"
    )
    assert call(tools.find_user_id_by_name_zip, second, first_name="Ada", last_name="Lane", zip="97301").error == (
        "User not found"
    )
    with platform_db.engine.connect() as connection:
        assert json.dumps(export_store(connection, second.tenant_id)) == json.dumps(load_store_data(DEMO_STORE_PATH))


def test_two_processes_seeding_a_new_tenant_at_once_seed_it_once(platform_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "no-data")
    stores = [run_setup(platform_db, settings)["store"] for _ in range(2)]  # one store handle per process
    tenant_id = ensure_tenant(platform_db, "newcomer")
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def first_use(store: Any) -> None:
        barrier.wait()
        try:
            store.ensure_seeded(tenant_id)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with platform_db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(Order.tenant_id == tenant_id)) == 4


# ---------------------------------------------------------------- through the chat API


@pytest.fixture(params=["fake", "extractive"])
def cs_model(request: pytest.FixtureRequest, fake_model: FakeChatModel) -> Any:
    return fake_model if request.param == "fake" else ExtractiveModel()


def test_an_acme_key_gets_not_found_for_an_order_of_the_default_tenant(shop: Shop, cs_model: Any) -> None:
    platform = shop.platform
    seed_store(platform.db.engine, default_store_data(), ensure_tenant(platform.db, "default"))
    keys = {tenant: create_api_key(platform.db, tenant) for tenant in ("acme", "default")}
    text = f"My email is ada.lane@example.com. Where is my order {ONLY_DEFAULT}?"  # the order's owner, in both tenants
    body = {"model": "customer_service", "messages": [{"role": "user", "content": text}]}

    def ask(tenant: str) -> dict[str, Any]:
        if isinstance(cs_model, FakeChatModel):
            cs_model.add(reply_with_tools(model_call("find_user_id_by_email", {"email": "ada.lane@example.com"}),
                                          model_call("get_order_details", {"order_id": ONLY_DEFAULT})), "Here it is.")
        response = shop.client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {keys[tenant]}"})
        assert response.status_code == 200, response.text
        return response.json()

    acme = ask("acme")
    assert [(e["name"], e["error"]) for e in acme["tool_events"]][-1] == ("get_order_details", "Order not found")
    if isinstance(cs_model, ExtractiveModel):
        assert "I could not find an order with that id" in acme["choices"][0]["message"]["content"]
    default = ask("default")
    assert [(e["name"], e["error"]) for e in default["tool_events"]][-1] == ("get_order_details", None)
    assert json.loads(default["tool_events"][-1]["output"])["order_id"] == ONLY_DEFAULT
    if isinstance(cs_model, ExtractiveModel):
        assert f"Order {ONLY_DEFAULT}: pending" in default["choices"][0]["message"]["content"]
