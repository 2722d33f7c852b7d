"""Replaying the tau2 training tasks' gold actions: byte-identical in compat mode, two defects fixed by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.customer_service import tools
from apps.customer_service.export import IncrementalHasher, db_sha256, export_store, tau2_db_hash
from apps.customer_service.replay import build_template, differing_tasks, dumps_results, main, replay
from apps.customer_service.seed import load_store_data, seed_store
from apps.customer_service.store import RetailStore
from moesaic.db import Database
from tests.apps.customer_service.conftest import TENANT, call, make_context

UNTOUCHED_SHA256 = "f08162ba14d2d3ce9ebe4ebc0fa3cd4bdc2876eaaf9d3411802cdba96ea1f41a"
UNTOUCHED_TAU2_HASH = "b25c9cb211f5efcaee5dd646054a73c4a9f43f4f5acc32c10713cd9f9ac20e9c"


@pytest.fixture(scope="module")
def compat_results(tau2_dir: Path) -> dict[str, Any]:
    return replay(tau2_dir / "db.json", tau2_dir / "tasks_train.json", reference_compat=True)


@pytest.fixture(scope="module")
def default_results(tau2_dir: Path) -> dict[str, Any]:
    return replay(tau2_dir / "db.json", tau2_dir / "tasks_train.json", reference_compat=False)


@pytest.fixture(scope="module")
def expected(tau2_dir: Path) -> dict[str, Any]:
    return json.loads((tau2_dir / "expected_train.json").read_text())


@pytest.fixture
def dataset_ctx(tau2_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'tau2.db'}")
    store = RetailStore(db.engine)
    store.create_tables()
    seed_store(db.engine, load_store_data(tau2_dir / "db.json"), TENANT)
    yield db, store
    db.dispose()


def test_seeded_dataset_round_trips_to_db_json(tau2_dir: Path) -> None:
    data = load_store_data(tau2_dir / "db.json")
    template = build_template(data)
    try:
        from apps.customer_service.replay import REPLAY_TENANT, _engine_over

        with _engine_over(template).connect() as connection:
            exported = export_store(connection, REPLAY_TENANT)
    finally:
        template.close()
    assert json.dumps(exported) == json.dumps(data)
    assert db_sha256(exported) == UNTOUCHED_SHA256
    assert tau2_db_hash(exported) == UNTOUCHED_TAU2_HASH


def test_compat_replay_is_byte_identical_to_expected(compat_results: dict[str, Any], tau2_dir: Path) -> None:
    expected_text = (tau2_dir / "expected_train.json").read_text()
    assert len(compat_results) == 74
    assert differing_tasks(compat_results, json.loads(expected_text)) == {}
    assert dumps_results(compat_results) == expected_text


def test_default_replay_differs_only_in_modify_pending_order_items(
    default_results: dict[str, Any], expected: dict[str, Any]
) -> None:
    report = differing_tasks(default_results, expected)
    assert report, "the default mode must fix the reference's defects"
    for task_id in report:
        mine, theirs = default_results[task_id], expected[task_id]
        for a, b in zip(mine["actions"], theirs["actions"]):
            if a != b:
                assert a["name"] == "modify_pending_order_items", (task_id, a["action_id"])
        # Outside modify_pending_order_items, every order record is the same.
        modified = {
            a["arguments"]["order_id"] for a in mine["actions"] if a["name"] == "modify_pending_order_items"
        }
        for order_id in set(mine["changed"]["orders"]) - modified:
            assert mine["changed"]["orders"][order_id] == theirs["changed"]["orders"][order_id]
        assert mine["changed"]["users"].keys() == theirs["changed"]["users"].keys()


def test_default_gives_each_item_its_own_variant_price_and_options(
    default_results: dict[str, Any], expected: dict[str, Any], tau2_dir: Path
) -> None:
    """Task 20: the reference gives all four changed items the Makeup Kit's price 261.11 and options."""
    data = load_store_data(tau2_dir / "db.json")
    variants = {v["item_id"]: v for p in data["products"].values() for v in p["variants"].values()}
    theirs = expected["20"]["changed"]["orders"]["#W9911714"]["items"]
    mine = default_results["20"]["changed"]["orders"]["#W9911714"]["items"]
    assert {item["price"] for item in theirs} == {261.11}
    for item in mine:
        assert item["price"] == variants[item["item_id"]]["price"]
        assert item["options"] == variants[item["item_id"]]["options"]
    assert [i["item_id"] for i in mine] == [i["item_id"] for i in theirs]


def test_default_rounds_payment_amounts_to_cents(
    default_results: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Task 20 again: the reference records 71.96000000000001; we record 71.96."""
    theirs = expected["20"]["changed"]["orders"]["#W9911714"]["payment_history"][-1]
    mine = default_results["20"]["changed"]["orders"]["#W9911714"]["payment_history"][-1]
    assert theirs["amount"] == 71.96000000000001
    assert mine == {**theirs, "amount": 71.96}
    for result in default_results.values():
        for order in result["changed"]["orders"].values():
            for entry in order["payment_history"]:
                assert round(entry["amount"], 2) == entry["amount"]


def test_incremental_hashes_match_a_full_export(dataset_ctx, tau2_dir: Path) -> None:  # type: ignore[no-untyped-def]
    db, store = dataset_ctx
    data = load_store_data(tau2_dir / "db.json")
    ctx = make_context(db, store)
    # Cancel a gift-card order: it changes the order and its user's gift-card balance.
    result = call(tools.cancel_pending_order, ctx, order_id="#W6779827", reason="ordered by mistake")
    assert result.error is None
    with store.engine.connect() as connection:
        final = export_store(connection, TENANT)
    replaced = {
        section: {k: v for k, v in final[section].items() if json.dumps(v) != json.dumps(data[section][k])}
        for section in ("orders", "users", "products")
    }
    assert set(replaced["orders"]) == {"#W6779827"} and set(replaced["users"]) == {"ethan_lopez_6291"}
    assert IncrementalHasher(data).hashes(replaced) == (db_sha256(final), tau2_db_hash(final))


def test_replay_command_writes_results(tau2_dir: Path, tmp_path: Path) -> None:
    tasks = json.loads((tau2_dir / "tasks_train.json").read_text())[:3]
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    out = tmp_path / "out.json"
    code = main(["--db", str(tau2_dir / "db.json"), "--tasks", str(tmp_path / "tasks.json"), "--out", str(out),
                 "--reference-compat"])
    assert code == 0
    written = json.loads(out.read_text())
    assert list(written) == [t["id"] for t in tasks]
    assert written["0"]["actions"][0]["output"] == "yusuf_rossi_9620"
