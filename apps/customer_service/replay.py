"""Replay tasks' gold tool calls through our tools and record what happened, in expected_train.json's format.

For each task: a fresh in-memory SQLite store (a copy of one template seeded once from db.json into
the tenant ``REPLAY_TENANT``, via ``sqlite3`` backup), every gold action run through
``moesaic.tools.run_tool_call`` with a ``ToolContext`` of that tenant, then the records that writes
touched exported to give the changed records and both hashes of the final DB.

``reference_compat=True`` reproduces the tau2 reference byte for byte (including its defects);
the default shows our corrected behaviour. The command line is
``moesaic apps customer_service replay --db DB --tasks TASKS --out OUT [--reference-compat]``;
``--expected FILE`` additionally reports which tasks differ from a file of expected results.
This module does not judge conversations; it only replays fixed action lists.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from apps.customer_service.export import IncrementalHasher, export_orders, export_users, touched_ids
from apps.customer_service.seed import load_store_data, seed_store
from apps.customer_service.store import RetailStore
from apps.customer_service.tools import TOOLS_BY_NAME
from moesaic.apps import ToolContext
from moesaic.config import Settings
from moesaic.db import Database
from moesaic.tools import ToolSpec, run_tool_call
from moesaic.types import ToolCall

REPLAY_TENANT = "replay"  # the one tenant of a scratch store; its tool contexts use the same id


def _engine_over(connection: sqlite3.Connection) -> Engine:
    return create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)


def build_template(data: dict[str, Any], tenant_id: str = REPLAY_TENANT) -> sqlite3.Connection:
    """An in-memory SQLite database holding ``tenant_id``'s seeded store; copy it with ``fresh_store``.

    A scratch database, so its tables come from ``create_tables`` rather than the app's migrations.
    """
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    engine = _engine_over(connection)
    RetailStore(engine).create_tables()
    seed_store(engine, data, tenant_id)  # not disposed: disposing a StaticPool engine closes the connection
    return connection


def run_action(ctx: ToolContext, action: dict[str, Any]) -> dict[str, Any]:
    """Run one gold action; render its output as the reference environment does."""
    name, arguments = action["name"], action.get("arguments") or {}
    spec = TOOLS_BY_NAME.get(name)
    if spec is None:
        output, is_error = f"Error: Tool '{name}' not found.", True
    elif (signature_error := _signature_error(spec, arguments)) is not None:
        output, is_error = f"Error: {signature_error}", True
    else:
        call = ToolCall(id=str(action.get("action_id", "")), name=name, arguments=json.dumps(arguments))
        result = run_tool_call(spec, call, context={"ctx": ctx})
        if result.error is not None:
            output, is_error = f"Error: {result.error}", True
        elif isinstance(result.value, str):
            output, is_error = result.value, False
        else:
            output, is_error = json.dumps(result.value), False
    return {
        "action_id": action.get("action_id"),
        "name": name,
        "arguments": arguments,
        "output": output,
        "error": is_error,
    }


def _signature_error(spec: ToolSpec, arguments: dict[str, Any]) -> str | None:
    """Python's TypeError text for calling the reference's bound method with these keyword arguments.

    The reference calls ``RetailTools.<name>(**arguments)`` unchecked, so a wrong or missing argument
    name is reported as ``RetailTools.get_order_details() got an unexpected keyword argument 'x'``
    (TOOLS.md §4), where our platform would give its own validation message. Keywords are checked in
    the order given, then missing parameters are listed in signature order, as CPython does.
    Wrongly *typed* values are not emulated: the platform's validation still rejects them.
    """
    params = list(spec.arguments_model.model_fields)
    prefix = f"RetailTools.{spec.name}()"
    for key in arguments:
        if key == "self":
            return f"{prefix} got multiple values for argument 'self'"
        if key not in params:
            return f"{prefix} got an unexpected keyword argument '{key}'"
    missing = [f"'{name}'" for name in params if name not in arguments]
    if not missing:
        return None
    if len(missing) == 1:
        names = missing[0]
    elif len(missing) == 2:
        names = f"{missing[0]} and {missing[1]}"
    else:
        names = ", ".join(missing[:-1]) + f", and {missing[-1]}"
    plural = "argument" if len(missing) == 1 else "arguments"
    return f"{prefix} missing {len(missing)} required positional {plural}: {names}"


def _changed(base: dict[str, Any], candidates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The candidate records whose JSON differs from ``base`` (a write may leave a record as it was)."""
    return {
        section: {
            key: record
            for key, record in candidates.get(section, {}).items()
            if key not in base[section] or json.dumps(record) != json.dumps(base[section][key])
        }
        for section in ("orders", "users", "products")
    }


def fresh_store(template: sqlite3.Connection) -> tuple[sqlite3.Connection, Engine]:
    """A new in-memory store copied from ``template`` (milliseconds, even for the whole dataset)."""
    working = sqlite3.connect(":memory:", check_same_thread=False)
    template.backup(working)
    return working, _engine_over(working)


def final_state(
    engine: Engine, data: dict[str, Any], hasher: IncrementalHasher, tenant_id: str = REPLAY_TENANT
) -> dict[str, Any]:
    """The records writes changed in ``tenant_id``'s store since seeding from ``data``, and both hashes
    of that whole final store."""
    with engine.connect() as connection:
        order_ids, user_ids = touched_ids(connection, tenant_id)
        candidates = {
            "orders": export_orders(connection, tenant_id, order_ids) if order_ids else {},
            "users": export_users(connection, tenant_id, user_ids) if user_ids else {},
        }
    changed = _changed(data, candidates)
    sha, tau2_hash = hasher.hashes(changed)
    return {"changed": changed, "db_sha256": sha, "tau2_db_hash": tau2_hash}


def replay(db_json: Path, tasks_json: Path, *, reference_compat: bool) -> dict[str, Any]:
    """Replay every task's gold actions on a fresh copy of ``db_json``; return ``{task_id: result}``."""
    data = load_store_data(Path(db_json))
    with open(tasks_json, encoding="utf-8") as handle:
        tasks = json.load(handle)
    return replay_tasks(data, tasks, reference_compat=reference_compat)


def replay_tasks(data: dict[str, Any], tasks: list[dict[str, Any]], *, reference_compat: bool) -> dict[str, Any]:
    """Replay ``tasks`` (tasks_train.json's shape) on fresh copies of the store ``data``.

    Only records that a write claimed (``export.touched_ids``) are exported again; hashes come from
    ``IncrementalHasher``. Tests check both against a full export.
    """
    template = build_template(data)
    hasher = IncrementalHasher(data)
    working = sqlite3.connect(":memory:", check_same_thread=False)
    engine = _engine_over(working)  # one engine for all tasks keeps SQLAlchemy's statement cache warm
    store = RetailStore(engine)
    settings = Settings()
    platform_db = Database("sqlite://")  # the tools only use the store; ToolContext wants a platform DB
    results: dict[str, Any] = {}
    try:
        for task in tasks:
            if task.get("initial_state"):
                raise NotImplementedError(f"task {task['id']}: initial_state is not supported by replay")
            template.backup(working)  # a fresh store: the copy replaces the whole working database
            ctx = ToolContext(
                tenant_id=REPLAY_TENANT,
                conversation_id=f"task-{task['id']}",
                app="customer_service",
                db=platform_db,
                settings=settings,
                services={"store": store, "reference_compat": reference_compat},
            )
            actions = (task.get("evaluation_criteria") or {}).get("actions") or []
            records = [run_action(ctx, action) for action in actions]
            results[str(task["id"])] = {"actions": records, **final_state(engine, data, hasher)}
    finally:
        engine.dispose()
        template.close()
        platform_db.dispose()
    return results


def dumps_results(results: dict[str, Any]) -> str:
    """Serialise exactly as expected_train.json is: one-space indent, ASCII, no trailing newline."""
    return json.dumps(results, indent=1)


def differing_tasks(results: dict[str, Any], expected: dict[str, Any]) -> dict[str, list[str]]:
    """``{task_id: [what differs]}`` for every task whose result is not identical to the expected one."""
    report: dict[str, list[str]] = {}
    for task_id in sorted(set(results) | set(expected), key=lambda k: (len(k), k)):
        mine, theirs = results.get(task_id), expected.get(task_id)
        if mine is None or theirs is None:
            report[task_id] = ["missing in " + ("results" if mine is None else "expected")]
            continue
        problems = [
            f"action {a.get('action_id')} output" for a, b in zip(mine["actions"], theirs["actions"]) if a != b
        ]
        if len(mine["actions"]) != len(theirs["actions"]):
            problems.append("number of actions")
        for section in ("orders", "users", "products"):
            for key in sorted(set(mine["changed"][section]) | set(theirs["changed"][section])):
                if json.dumps(mine["changed"][section].get(key)) != json.dumps(theirs["changed"][section].get(key)):
                    problems.append(f"changed {section} {key}")
        for key in ("db_sha256", "tau2_db_hash"):
            if mine.get(key) != theirs.get(key):
                problems.append(key)
        if problems:
            report[task_id] = problems
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moesaic apps customer_service replay", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="db.json of the store")
    parser.add_argument("--tasks", required=True, type=Path, help="tasks JSON with evaluation_criteria.actions")
    parser.add_argument("--out", required=True, type=Path, help="where to write the results JSON")
    parser.add_argument("--reference-compat", action="store_true", help="reproduce the tau2 reference's defects")
    parser.add_argument("--expected", type=Path, help="optional expected results to compare against")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results = replay(args.db, args.tasks, reference_compat=args.reference_compat)
    text = dumps_results(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    elapsed = time.perf_counter() - started
    print(f"replayed {len(results)} tasks in {elapsed:.1f}s -> {args.out}")
    if args.expected:
        expected_text = args.expected.read_text(encoding="utf-8")
        report = differing_tasks(results, json.loads(expected_text))
        identical = len(results) - len(report)
        print(f"{identical}/{len(results)} tasks identical to {args.expected}; file byte-identical: {text == expected_text}")
        for task_id, problems in report.items():
            print(f"  task {task_id}: {', '.join(problems)}")
        return 0 if not report else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
