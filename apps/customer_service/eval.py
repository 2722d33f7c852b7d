"""Agent evaluation, tau2-bench style: a simulated customer talks to the app, then the store is judged.

For each task (tasks_train.json's shape) a second chat model plays the customer from the task's
``user_scenario.instructions``; the app answers through the real agent loop of an in-process
platform (its policy, knowledge, scope gate and write confirmation), on a fresh copy of the store.
A task passes when

- the final database equals the one the task's gold actions produce (``replay``; compared by the
  dataset's ``db_sha256``), and
- every string of the task's ``communicate_info`` (or ``outputs``) appears in the agent's messages
  (case-insensitive, commas ignored, as tau2 checks it).

tau2's natural-language assertions need an LLM judge and are not scored here. The command line is
``moesaic eval customer_service --tasks FILE [--limit N] [--db DB_JSON] [--out OUT_JSON]``; it needs a
chat model (``MOESAIC_LLM_BASE_URL`` ...) and says so when none is configured. This module does not
serve HTTP and never calls a network itself; the configured models do.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from apps.customer_service.export import IncrementalHasher
from apps.customer_service.replay import build_template, final_state, fresh_store, replay_tasks
from apps.customer_service.seed import load_store_data
from apps.customer_service.store import RetailStore
from moesaic import AppContext, open_app_context
from moesaic.agent import AgentResult
from moesaic.config import Settings
from moesaic.errors import MoesaicError
from moesaic.access import ensure_tenant
from moesaic.llm import ChatModel, ModelRequest
from moesaic.memory import ConversationStore
from moesaic.types import Message

STOP, TRANSFER, OUT_OF_SCOPE = "###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"
USER_STOP_TOKENS = (STOP, TRANSFER, OUT_OF_SCOPE)
AGENT_GREETING = "Hi! How can I help you today?"
DEFAULT_MAX_TURNS = 30
DEFAULT_AGENT_STEPS = 15

USER_SIMULATOR_PROMPT = """You are playing a customer who contacts an online retail store's customer service agent.
Follow the scenario below; write one short, natural message at a time, as a customer would.

Rules:
- Stick to the scenario. Never invent facts that it does not give you: what it does not give you,
  you do not know.
- Do not recite the instructions; say things in your own words. Give information only when the agent
  asks for it, a little at a time.
- When your goal is fully reached, reply with {stop} alone.
- If you are transferred to a human agent, reply with {transfer} alone.
- If the scenario does not tell you how to go on, reply with {out_of_scope} alone.

<scenario>
{scenario}
</scenario>"""


def scenario_text(task: dict[str, Any]) -> str:
    instructions = (task.get("user_scenario") or {}).get("instructions") or {}
    if isinstance(instructions, str):
        return instructions
    labels = (("domain", "Domain"), ("reason_for_call", "Reason for call"), ("known_info", "What you know"),
              ("unknown_info", "What you do not know"), ("task_instructions", "How you behave"))
    return "\n".join(f"{label}: {instructions[key]}" for key, label in labels if instructions.get(key))


class UserSimulator:
    """A chat model playing the customer. Its transcript mirrors the conversation: the agent's messages
    are its ``user`` turns, its own messages are ``assistant`` turns."""

    def __init__(self, model: ChatModel, task: dict[str, Any]) -> None:
        self.model = model
        prompt = USER_SIMULATOR_PROMPT.format(
            stop=STOP, transfer=TRANSFER, out_of_scope=OUT_OF_SCOPE, scenario=scenario_text(task)
        )
        self.messages: list[Message] = [Message("system", prompt)]

    def reply(self, agent_text: str) -> str:
        self.messages.append(Message("user", agent_text or "(no reply)"))
        text = self.model.generate(ModelRequest(messages=list(self.messages))).content.strip()
        self.messages.append(Message("assistant", text))
        return text


def required_info(task: dict[str, Any]) -> list[str]:
    criteria = task.get("evaluation_criteria") or {}
    return [str(item) for item in (criteria.get("communicate_info") or criteria.get("outputs") or [])]


def missing_info(required: Sequence[str], agent_messages: Sequence[str]) -> list[str]:
    """The required strings that no agent message contains (lower case, commas removed, as tau2)."""
    said = [text.lower().replace(",", "") for text in agent_messages]
    return [info for info in required if not any(info.lower().replace(",", "") in text for text in said)]


@dataclass
class TaskResult:
    task_id: str
    reward: float
    db_match: bool
    communicated: bool
    missing_info: list[str]
    termination: str  # user_stop, transfer, out_of_scope, handed_off, max_turns, error
    num_turns: int
    tool_calls: list[str] = field(default_factory=list)
    db_sha256: str = ""
    expected_db_sha256: str = ""
    error: str | None = None


@dataclass
class SimulatedCustomerEval:
    """Runs tasks against one in-process platform; each task gets a fresh copy of the store."""

    agent_model: ChatModel
    user_model: ChatModel
    store_data: dict[str, Any]
    settings: Settings
    reference_compat: bool = False
    max_turns: int = DEFAULT_MAX_TURNS
    wait_for_knowledge: bool = True

    def run(self, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        from apps.customer_service.manifest import APP

        gold = replay_tasks(self.store_data, tasks, reference_compat=self.reference_compat)
        app = APP.model_copy(update={"setup": None})  # each task brings its own store
        hasher = IncrementalHasher(self.store_data)
        template = None
        try:
            with open_app_context(self.settings, app, model=self.agent_model,
                                  start_worker=self.wait_for_knowledge) as ctx:
                tenant_id = ensure_tenant(ctx.db)  # the default tenant: the platform queued its knowledge
                template = build_template(self.store_data, tenant_id)
                if self.wait_for_knowledge:
                    infos, _ = ctx.knowledge.list_documents(tenant_id, app.knowledge_base or "")
                    ctx.knowledge.wait([info.id for info in infos], timeout=300)
                results = [self._run_task(ctx, tenant_id, template, hasher, task, gold[str(task["id"])])
                           for task in tasks]
        finally:
            if template is not None:
                template.close()
        passed = sum(r.reward for r in results)
        return {
            "num_tasks": len(results),
            "num_passed": int(passed),
            "pass^1": passed / len(results) if results else 0.0,
            "mode": "reference_compat" if self.reference_compat else "default",
            "agent_model": getattr(self.agent_model, "model", self.agent_model.name),
            "user_model": getattr(self.user_model, "model", self.user_model.name),
            "tasks": [asdict(r) for r in results],
        }

    def _run_task(self, ctx: AppContext, tenant_id: str, template: Any, hasher: IncrementalHasher,
                  task: dict[str, Any], gold: dict[str, Any]) -> TaskResult:
        connection, engine = fresh_store(template)
        services = {"store": RetailStore(engine), "reference_compat": self.reference_compat}
        conversation = ConversationStore(ctx.db).create(tenant_id, ctx.app)
        simulator = UserSimulator(self.user_model, task)
        agent_messages: list[str] = []
        tool_calls: list[str] = []
        termination, turns, error = "max_turns", 0, None
        try:
            user_text = simulator.reply(AGENT_GREETING)
            for turns in range(1, self.max_turns + 1):
                stop = next((token for token in USER_STOP_TOKENS if token in user_text), None)
                if stop is not None:
                    termination = {STOP: "user_stop", TRANSFER: "transfer", OUT_OF_SCOPE: "out_of_scope"}[stop]
                    break
                agent = ctx.agent(tenant_id, conversation.id, services=services)
                result = _collect(agent.run(conversation.id, user_text))
                agent_messages.append(result.content)
                tool_calls += [event.call.name for event in result.tool_events]
                if result.state != "active":
                    termination = result.state
                    break
                user_text = simulator.reply(result.content)
            state = final_state(engine, self.store_data, hasher, tenant_id)
        except MoesaicError as exc:  # a model or endpoint failure fails this task, not the run
            termination, error = "error", f"{type(exc).__name__}: {exc}"
            state = final_state(engine, self.store_data, hasher, tenant_id)
        finally:
            engine.dispose()
            connection.close()
        required = required_info(task)
        missing = missing_info(required, agent_messages)
        db_match = state["db_sha256"] == gold["db_sha256"]
        return TaskResult(
            task_id=str(task["id"]),
            reward=1.0 if db_match and not missing and error is None else 0.0,
            db_match=db_match,
            communicated=not missing,
            missing_info=missing,
            termination=termination,
            num_turns=turns,
            tool_calls=tool_calls,
            db_sha256=state["db_sha256"],
            expected_db_sha256=gold["db_sha256"],
            error=error,
        )


def _collect(events: Any) -> AgentResult:
    for event in events:
        if isinstance(event, AgentResult):
            return event
    raise AssertionError("the agent loop ended without a result")


# ---------------------------------------------------------------- command line


def dry_run_models(tasks: list[dict[str, Any]]) -> tuple[ChatModel, ChatModel]:
    """Scripted fake models for ``--dry-run``: the agent calls each task's gold actions through the real agent
    loop (a write is held, the customer says "yes", the write runs), then says the task's required information;
    the customer asks, confirms each write and stops. Checks the harness end to end without an endpoint."""
    from moesaic.llm.fake import FakeChatModel, call, reply_with_tools
    from apps.customer_service.tools import TOOLS_BY_NAME

    agent, user = FakeChatModel(), FakeChatModel()
    for task in tasks:
        user.add("Hi, I need help with my order (dry run).")
        for number, action in enumerate((task.get("evaluation_criteria") or {}).get("actions") or []):
            tool_call = call(action["name"], action.get("arguments") or {}, call_id=f"call_dry_{task['id']}_{number}")
            agent.add(reply_with_tools(tool_call))
            spec = TOOLS_BY_NAME.get(action["name"])
            if spec is not None and spec.writes:
                agent.add("Please confirm with yes.")
                user.add("yes")
                agent.add(reply_with_tools(tool_call))
        agent.add("Done. " + " ".join(required_info(task)))
        user.add(f"Thanks. {STOP}")
    return agent, user


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moesaic eval customer_service", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", required=True, type=Path, help="tasks JSON (tau2 tasks_train.json's shape)")
    parser.add_argument("--limit", type=int, default=None, help="run only the first N tasks")
    parser.add_argument("--db", type=Path, default=None, help="store db.json (default: the dataset's tau2_retail/db.json)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--reference-compat", action="store_true", help="tools and gold replay in reference mode")
    parser.add_argument("--max-turns", type=int, default=DEFAULT_MAX_TURNS, help="customer turns per task")
    parser.add_argument("--max-steps", type=int, default=DEFAULT_AGENT_STEPS, help="agent model calls per turn")
    parser.add_argument("--user-model", default=None, help="model name for the simulated customer (default: MOESAIC_LLM_MODEL)")
    parser.add_argument("--user-base-url", default=None, help="endpoint of the simulated customer (default: MOESAIC_LLM_BASE_URL)")
    parser.add_argument("--user-api-key", default=None, help="API key of the simulated customer's endpoint")
    parser.add_argument("--dry-run", action="store_true",
                        help="no endpoint: scripted fake models replay the gold actions through the agent loop")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from moesaic.config import load_settings
    from moesaic.llm import create_chat_model

    args = _parser().parse_args(argv)
    settings = load_settings()
    if not settings.llm_base_url and not args.dry_run:
        print("error: no chat model is configured. The evaluation needs a generative model for the agent and the "
              "simulated customer: set MOESAIC_LLM_BASE_URL (and MOESAIC_LLM_MODEL, MOESAIC_LLM_API_KEY) to an "
              "OpenAI-compatible endpoint. The offline extractive model cannot hold these conversations.",
              file=sys.stderr)
        return 2
    db_json = args.db or Path(settings.datasets_dir) / "tau2_retail" / "db.json"
    if not db_json.is_file():
        print(f"error: store file {db_json} not found; pass --db or set MOESAIC_DATASETS_DIR", file=sys.stderr)
        return 2
    tasks = json.loads(args.tasks.read_text(encoding="utf-8"))[: args.limit]
    user_settings = settings.model_copy(update={
        "llm_base_url": args.user_base_url or settings.llm_base_url,
        "llm_model": args.user_model or settings.llm_model,
        "llm_api_key": args.user_api_key or settings.llm_api_key,
    })
    with tempfile.TemporaryDirectory(prefix="moesaic-eval-") as home:
        run_settings = settings.model_copy(update={"home": Path(home), "database_url": None,
                                                   "agent_max_steps": args.max_steps})
        agent_model, user_model = (dry_run_models(tasks) if args.dry_run
                                   else (create_chat_model(run_settings), create_chat_model(user_settings)))
        evaluation = SimulatedCustomerEval(
            agent_model=agent_model,
            user_model=user_model,
            store_data=load_store_data(db_json),
            settings=run_settings,
            reference_compat=args.reference_compat,
            max_turns=args.max_turns,
        )
        started = time.perf_counter()
        report = evaluation.run(tasks)
    report["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)
    print(f"pass^1 = {report['pass^1']:.3f} ({report['num_passed']}/{report['num_tasks']} tasks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
