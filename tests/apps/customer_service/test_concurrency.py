"""Two conversations changing the same order at once cannot both succeed (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

from apps.customer_service import tools
from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data, seed_store
from apps.customer_service.store import RetailStore
from moesaic.db import Database, SQLiteWriters, make_engine
from tests.apps.customer_service.conftest import TENANT, call, make_context
from tests.conftest import DATABASES


@pytest.fixture(params=DATABASES)
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A seeded demo store: a SQLite file, or a schema of its own in the test PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        schema = None
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"cs_test_{secrets.token_hex(4)}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10)
    RetailStore(engine).create_tables()
    seed_store(engine, load_store_data(DEMO_STORE_PATH), TENANT)
    yield engine
    engine.dispose()
    if schema:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _gift_card_balance(ctx: Any) -> float:
    user = call(tools.get_user_details, ctx, user_id="ada_lane_1001").value
    return float(user["payment_methods"]["gift_card_1000002"]["balance"])


def test_a_write_on_a_stale_read_is_refused(store_engine: Engine, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A reads the order, B cancels it and commits, then A's write finds the version moved and fails."""
    store = RetailStore(store_engine)
    db = Database(f"sqlite:///{tmp_path / 'platform.db'}")
    ctx_a, ctx_b = make_context(db, store), make_context(db, store)
    reached_write, may_write = threading.Event(), threading.Event()
    writer_a: list[int] = []

    def pause(statement: str) -> None:
        if threading.get_ident() in writer_a and statement.lstrip().upper().startswith("UPDATE CS_ORDERS SET VERSION"):
            reached_write.set()
            assert may_write.wait(10), "the test never released conversation A"

    @event.listens_for(store_engine, "before_cursor_execute")
    def pause_a_before_claiming(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        pause(statement)

    # On SQLite the engine queues writers on a lock in the process (moesaic.db.SQLiteWriters) before the
    # statement runs: A must pause before it takes that lock, as it would be paused before SQLite's own.
    queue_writer = SQLiteWriters.before_statement

    def pause_then_queue(self: SQLiteWriters, connection: Any, statement: str) -> None:
        pause(statement)
        queue_writer(self, connection, statement)

    monkeypatch.setattr(SQLiteWriters, "before_statement", pause_then_queue)

    results: dict[str, Any] = {}

    def conversation_a() -> None:
        writer_a.append(threading.get_ident())
        results["a"] = call(tools.cancel_pending_order, ctx_a, order_id="#W1000001", reason="no longer needed")

    thread = threading.Thread(target=conversation_a)
    thread.start()
    assert reached_write.wait(10)
    results["b"] = call(tools.modify_pending_order_address, ctx_b, order_id="#W1000001", address1="1 New St",
                        address2="", city="Salem", state="OR", country="USA", zip="97301")
    may_write.set()
    thread.join(10)
    event.remove(store_engine, "before_cursor_execute", pause_a_before_claiming)
    db.dispose()

    assert results["b"].error is None
    assert results["a"].error is not None and "changed by another conversation" in results["a"].error
    order = call(tools.get_order_details, ctx_b, order_id="#W1000001").value
    assert order["status"] == "pending" and order["address"]["city"] == "Salem"
    assert len(order["payment_history"]) == 1
    assert _gift_card_balance(ctx_b) == 60.0  # A's refund was rolled back with the rest of A


def test_concurrent_cancels_refund_once(store_engine: Engine, tmp_path: Path) -> None:
    store = RetailStore(store_engine)
    db = Database(f"sqlite:///{tmp_path / 'platform.db'}")
    contexts = [make_context(db, store) for _ in range(4)]
    barrier = threading.Barrier(len(contexts))
    outcomes: list[Any] = [None] * len(contexts)

    def conversation(index: int) -> None:
        barrier.wait()
        outcomes[index] = call(tools.cancel_pending_order, contexts[index], order_id="#W1000001",
                               reason="ordered by mistake")

    threads = [threading.Thread(target=conversation, args=(i,)) for i in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    successes = [o for o in outcomes if o is not None and o.error is None]
    assert len(successes) == 1, [o.error for o in outcomes]
    for outcome in outcomes:
        if outcome.error is not None:
            assert outcome.error == "Non-pending order cannot be cancelled" or "another" in outcome.error
    order = call(tools.get_order_details, contexts[0], order_id="#W1000001").value
    assert [t["transaction_type"] for t in order["payment_history"]] == ["payment", "refund"]
    assert _gift_card_balance(contexts[0]) == 102.99
    db.dispose()
