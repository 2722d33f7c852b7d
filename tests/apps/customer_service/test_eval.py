"""The tau2-style evaluation harness, with scripted fake models for both the agent and the customer.

The agent replays the gold actions (held write, the customer's yes, the write again); the harness
must score a faithful run as passed, and a run with the wrong final database or without the required
information as failed. No network: both models are the shipped FakeChatModel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.customer_service.eval import STOP, SimulatedCustomerEval, main, missing_info
from apps.customer_service.seed import DEMO_STORE_PATH, load_store_data
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from moesaic.llm.fake import call, reply_with_tools

FIND_ADA = {"name": "find_user_id_by_email", "arguments": {"email": "ada.lane@example.com"}}


def cancel_action(reason: str) -> dict[str, Any]:
    return {"name": "cancel_pending_order", "arguments": {"order_id": "#W1000001", "reason": reason}}


def task(task_id: str, reason: str, info: list[str]) -> dict[str, Any]:
    return {
        "id": task_id,
        "user_scenario": {"instructions": {
            "domain": "retail",
            "reason_for_call": "You want to cancel your order #W1000001 because you no longer need it.",
            "known_info": "Your email is ada.lane@example.com.",
            "unknown_info": "You do not remember your zip code.",
            "task_instructions": "You are polite.",
        }},
        "initial_state": None,
        "evaluation_criteria": {"actions": [FIND_ADA, cancel_action(reason)], "communicate_info": info},
    }


def agent_cancels(agent: FakeChatModel, user: FakeChatModel, *, says: str) -> None:
    """One task's script: look up Ada, cancel (held), ask; on 'yes' cancel for real and answer ``says``."""
    cancel = call("cancel_pending_order", {"order_id": "#W1000001", "reason": "no longer needed"})
    user.add("Hi, please cancel my order #W1000001, I no longer need it. My email is ada.lane@example.com.")
    agent.add(reply_with_tools(call("find_user_id_by_email", {"email": "ada.lane@example.com"})),
              reply_with_tools(cancel), "I'll cancel #W1000001 (no longer needed). Reply yes to confirm.")
    user.add("yes")
    agent.add(reply_with_tools(cancel), says)
    user.add(f"Thanks! {STOP}")


@pytest.fixture
def models() -> tuple[FakeChatModel, FakeChatModel]:
    return FakeChatModel(), FakeChatModel()


def run(tasks: list[dict[str, Any]], agent: FakeChatModel, user: FakeChatModel, tmp_path: Path) -> dict[str, Any]:
    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False, agent_max_steps=8)
    evaluation = SimulatedCustomerEval(agent, user, load_store_data(DEMO_STORE_PATH), settings, wait_for_knowledge=False)
    return evaluation.run(tasks)


def test_scores_a_faithful_run_and_both_kinds_of_failure(models: tuple[FakeChatModel, FakeChatModel], tmp_path: Path) -> None:
    agent, user = models
    tasks = [
        task("passes", "no longer needed", ["42.99"]),
        task("wrong_db", "ordered by mistake", []),  # gold uses another reason: the final DB differs
        task("silent", "no longer needed", ["102.99"]),  # right DB, but the new balance is never told
    ]
    for _ in tasks:
        agent_cancels(agent, user, says="Done: #W1000001 is cancelled and $42.99 is back on your gift card.")
    report = run(tasks, agent, user, tmp_path)

    by_id = {r["task_id"]: r for r in report["tasks"]}
    assert (report["num_tasks"], report["num_passed"], report["pass^1"]) == (3, 1, pytest.approx(1 / 3))
    passed = by_id["passes"]
    assert passed["reward"] == 1.0 and passed["db_match"] and passed["communicated"]
    assert passed["termination"] == "user_stop" and passed["num_turns"] == 3
    assert passed["tool_calls"] == ["find_user_id_by_email", "cancel_pending_order", "cancel_pending_order"]
    assert passed["db_sha256"] == passed["expected_db_sha256"]
    assert by_id["wrong_db"]["reward"] == 0.0 and not by_id["wrong_db"]["db_match"]
    assert by_id["wrong_db"]["db_sha256"] == passed["db_sha256"]  # the same agent run, judged by another gold
    assert by_id["silent"]["db_match"] and by_id["silent"]["missing_info"] == ["102.99"]
    assert by_id["silent"]["reward"] == 0.0
    # the simulated customer played the scenario: its prompt carries the task's instructions
    assert "ada.lane@example.com" in user.requests[0].messages[0].content
    assert STOP in user.requests[0].messages[0].content


def test_each_task_starts_from_a_fresh_store(models: tuple[FakeChatModel, FakeChatModel], tmp_path: Path) -> None:
    agent, user = models
    tasks = [task("first", "no longer needed", []), task("second", "no longer needed", [])]
    for _ in tasks:  # had the store carried over, the second cancel would fail on a cancelled order
        agent_cancels(agent, user, says="Done.")
    report = run(tasks, agent, user, tmp_path)
    assert [r["reward"] for r in report["tasks"]] == [1.0, 1.0]


def test_a_model_failure_fails_only_its_task(models: tuple[FakeChatModel, FakeChatModel], tmp_path: Path) -> None:
    agent, user = models
    user.add("Hi, please cancel my order #W1000001.")  # the agent has no script for this: it fails
    report = run([task("broken", "no longer needed", [])], agent, user, tmp_path)
    (result,) = report["tasks"]
    assert result["termination"] == "error" and "no scripted reply" in result["error"]
    assert result["reward"] == 0.0


def test_required_info_ignores_case_and_thousands_separators() -> None:
    assert missing_info(["8276.23", "Camera"], ["Your refund is $8,276.23 for the camera."]) == []
    assert missing_info(["64GB"], ["It has 32GB."]) == ["64GB"]


def test_without_a_model_it_says_so_and_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("MOESAIC_LLM_BASE_URL", raising=False)
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([task("t", "no longer needed", [])]))
    assert main(["--tasks", str(tasks)]) == 2
    assert "no chat model is configured" in capsys.readouterr().err


def test_cli_command_runs_the_evaluation_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from moesaic.cli import cli

    monkeypatch.delenv("MOESAIC_LLM_BASE_URL", raising=False)
    tasks = tmp_path / "tasks.json"
    tasks.write_text("[]")
    result = CliRunner().invoke(cli, ["eval", "customer_service", "--tasks", str(tasks), "--limit", "1"])
    assert result.exit_code == 2
    assert "MOESAIC_LLM_BASE_URL" in result.output


def gold_scripts(task: dict[str, Any], agent: FakeChatModel, user: FakeChatModel) -> None:
    """Script an agent that runs the task's gold actions one at a time (each write held, then confirmed
    by the customer's yes and run again), and a customer who opens, says yes to each write, then stops."""
    from apps.customer_service.tools import TOOLS_BY_NAME

    user.add("Hi, I need help with my order.")
    for number, action in enumerate(task["evaluation_criteria"]["actions"]):
        tool_call = call(action["name"], action["arguments"], call_id=f"gold_{number}")
        agent.add(reply_with_tools(tool_call))
        if TOOLS_BY_NAME[action["name"]].writes:
            agent.add(f"Shall I run {action['name']}? Please reply yes.")
            user.add("yes")
            agent.add(reply_with_tools(tool_call))
    agent.add("All done.")
    user.add(STOP)


@pytest.mark.parametrize("task_id", ["16", pytest.param("0", marks=pytest.mark.slow)])
def test_gold_actions_through_the_agent_loop_match_the_gold_replay(task_id: str, tau2_dir: Path, tmp_path: Path) -> None:
    tasks = [t for t in json.loads((tau2_dir / "tasks_train.json").read_text()) if t["id"] == task_id]
    agent, user = FakeChatModel(), FakeChatModel()
    gold_scripts(tasks[0], agent, user)
    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False, agent_max_steps=50)
    report = SimulatedCustomerEval(agent, user, load_store_data(tau2_dir / "db.json"), settings, wait_for_knowledge=False).run(tasks)
    (result,) = report["tasks"]
    assert result["db_match"], result
    assert result["db_sha256"] != "f08162ba14d2d3ce9ebe4ebc0fa3cd4bdc2876eaaf9d3411802cdba96ea1f41a"  # the DB changed


def test_dry_run_needs_no_endpoint_and_scores_the_gold_replay(tau2_dir: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("MOESAIC_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("MOESAIC_DATASETS_DIR", str(tau2_dir.parent))
    out = tmp_path / "report.json"
    code = main(["--tasks", str(tau2_dir / "tasks_train.json"), "--limit", "2", "--dry-run", "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == 0 and report["num_tasks"] == 2
    assert report["pass^1"] == 1.0 and all(t["db_match"] for t in report["tasks"])
