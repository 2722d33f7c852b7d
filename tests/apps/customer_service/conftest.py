"""Fixtures for the customer_service app: a seeded demo store on SQLite, tool contexts, the dataset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data, seed_store  # noqa: E402
from apps.customer_service.store import RetailStore  # noqa: E402
from moesaic.apps import ToolContext  # noqa: E402
from moesaic.config import Settings  # noqa: E402
from moesaic.db import Database  # noqa: E402
from tests.conftest import DATASETS_DIR  # noqa: E402

TAU2_DIR = DATASETS_DIR / "tau2_retail"


def make_context(db: Database, store: RetailStore, *, reference_compat: bool = False) -> ToolContext:
    return ToolContext(
        tenant_id="t1",
        conversation_id="c1",
        app="customer_service",
        db=db,
        settings=Settings(datasets_dir=DATASETS_DIR),
        services={"store": store, "reference_compat": reference_compat},
    )


@pytest.fixture
def demo_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    store = RetailStore(db.engine)
    store.create_tables()
    seed_store(db.engine, load_store_data(DEMO_STORE_PATH))
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
