"""Fixtures for the customer_service app: a seeded demo store on SQLite, tool contexts, the dataset, and
a whole platform with the app behind the API (``shop``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data, seed_store  # noqa: E402
from apps.customer_service.store import RetailStore  # noqa: E402
from moesaic.apps import ToolContext  # noqa: E402
from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from tests.conftest import DATABASES, DATASETS_DIR  # noqa: E402

TAU2_DIR = DATASETS_DIR / "tau2_retail"
TENANT = "t1"  # the tenant whose store the scratch fixtures seed


def make_context(
    db: Database, store: RetailStore, *, tenant_id: str = TENANT, reference_compat: bool = False
) -> ToolContext:
    return ToolContext(
        tenant_id=tenant_id,
        conversation_id="c1",
        app="customer_service",
        db=db,
        settings=Settings(datasets_dir=DATASETS_DIR),
        services={"store": store, "reference_compat": reference_compat},
    )


@pytest.fixture
def demo_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    RetailStore(db.engine).create_tables()
    seed_store(db.engine, load_store_data(DEMO_STORE_PATH), TENANT)
    yield db
    db.dispose()


@pytest.fixture
def demo_store(demo_db: Database) -> RetailStore:
    return RetailStore(demo_db.engine)


@pytest.fixture
def ctx(demo_db: Database, demo_store: RetailStore) -> ToolContext:
    return make_context(demo_db, demo_store)


@pytest.fixture(scope="session")
def tau2_dir() -> Path:
    if not (TAU2_DIR / "db.json").is_file():
        pytest.skip(f"tau2 retail dataset not found under {TAU2_DIR}")
    return TAU2_DIR


def call(spec: Any, ctx: ToolContext, **arguments: Any) -> Any:
    """Call a tool the way the platform does (validated arguments, injected ctx); return the ToolResult."""
    import json

    from moesaic.tools import run_tool_call
    from moesaic.types import ToolCall

    return run_tool_call(spec, ToolCall(id="call-1", name=spec.name, arguments=json.dumps(arguments)), {"ctx": ctx})


# ---------------------------------------------------------------- whole conversations through the API


@dataclass
class Shop:
    """The customer_service platform behind the API, a client with a tenant's key, that tenant's knowledge."""

    platform: Any
    client: Any
    tenant_id: str
    documents: dict[str, str]  # filename -> document id, all indexed

    @property
    def store(self) -> RetailStore:
        return self.platform.app_services["customer_service"]["store"]

    def send(self, text: str, conversation_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": "customer_service", "messages": [{"role": "user", "content": text}]}
        if conversation_id:
            body["conversation_id"] = conversation_id
        response = self.client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def order(self, order_id: str) -> dict[str, Any]:
        from apps.customer_service import tools

        ctx = make_context(self.platform.db, self.store, tenant_id=self.tenant_id)
        return call(tools.get_order_details, ctx, order_id=order_id).value

    def gift_card_balance(self, user_id: str, method_id: str) -> float:
        from apps.customer_service import tools

        ctx = make_context(self.platform.db, self.store, tenant_id=self.tenant_id)
        user = call(tools.get_user_details, ctx, user_id=user_id).value
        return float(user["payment_methods"][method_id]["balance"])


@pytest.fixture(scope="session")
def shop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One platform per test session (building it and indexing the policy and FAQ takes seconds): the
    demo store (no dataset), the demo policy and our FAQ indexed for the key's tenant."""
    from fastapi.testclient import TestClient

    from apps.customer_service.manifest import APP
    from moesaic.api.main import create_app
    from moesaic.llm import FakeChatModel
    from moesaic.access import create_api_key, ensure_tenant
    from moesaic.services import Platform

    home = tmp_path_factory.mktemp("shop")
    settings = Settings(home=home / "home", datasets_dir=home / "no-datasets")
    platform = Platform.create(settings, model=FakeChatModel(), apps={APP.name: APP})
    key = create_api_key(platform.db, "shop-tenant")
    tenant_id = ensure_tenant(platform.db, "shop-tenant")
    platform.ensure_app_knowledge(APP, tenant_id)
    infos, _ = platform.knowledge.list_documents(tenant_id, APP.knowledge_base)
    done = platform.knowledge.wait([info.id for info in infos], timeout=120)
    assert [info.status for info in done] == ["indexed"] * len(done), done
    try:
        with TestClient(create_app(platform=platform)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            yield Shop(platform, client, tenant_id, {info.filename: info.id for info in done})
    finally:
        platform.close()


@pytest.fixture
def cs_model(fake_model: Any) -> Any:
    """The chat model the shop runs; offline tests override this with the real ExtractiveModel."""
    return fake_model


@pytest.fixture
def shop(shop_session: Shop, cs_model: Any) -> Shop:
    """The session's shop with this test's model and empty stores (each tenant's is seeded on first use)."""
    from apps.customer_service.manifest import APP
    from apps.customer_service.store import StoreBase

    platform = shop_session.platform
    with platform.db.engine.begin() as connection:
        for table in reversed(StoreBase.metadata.sorted_tables):
            connection.execute(table.delete())
    context = platform.app_context(APP.name)
    context.services.clear()
    APP.setup(context)
    platform.model = cs_model
    return shop_session


def run_setup(db: Database, settings: Settings) -> dict[str, Any]:
    """The app's setup on a context of its own (as the platform runs it); returns the services it made."""
    from apps.customer_service.manifest import APP
    from moesaic.apps import AppContext

    context = AppContext(app=APP.name, settings=settings, db=db, model=None, knowledge=None, metrics=None)  # type: ignore[arg-type]
    assert APP.setup is not None
    APP.setup(context)
    return context.services
