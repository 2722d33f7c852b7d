"""The app's commands (``moesaic apps customer_service ...``) and evaluations (``moesaic eval customer_service ...``).

- ``replay``: gold actions through our tools, in expected_train.json's format (``replay.main``).
- evaluation ``agent`` (the default): a simulated customer talks to the agent (``eval.main``).
- evaluation ``compat``: the quick gate. It replays the first ``QUICK_TASKS`` training tasks in
  reference-compat mode and scores ``compat_identical``, the share of tasks byte-identical to the
  dataset's expected_train.json. Without the tau2 retail data it raises ``MissingData`` (the gate
  fails unless run with ``--allow-missing-data``); it never passes on no data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import typer

from apps.customer_service.seed import DATASET_NAME
from moesaic.apps import AppContext, Evaluation, MissingData

QUICK_TASKS = 10
DATA_FILES = ("db.json", "tasks_train.json", "expected_train.json")

commands = typer.Typer(help="Retail customer service: replay gold actions.", no_args_is_help=True)


@commands.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def replay(ctx: typer.Context) -> None:
    """Replay tasks' gold actions: `replay --db DB --tasks TASKS --out OUT [--reference-compat] [--expected FILE]`."""
    from apps.customer_service.replay import main

    raise typer.Exit(main(list(ctx.args)) or 0)


def quick_compat(ctx: AppContext) -> Mapping[str, float]:
    from apps.customer_service.replay import differing_tasks, replay_tasks
    from apps.customer_service.seed import load_store_data

    folder = Path(ctx.settings.datasets_dir) / DATASET_NAME
    absent = [name for name in DATA_FILES if not (folder / name).is_file()]
    if absent:
        raise MissingData(f"{', '.join(absent)} not found under {folder}; set MOESAIC_DATASETS_DIR to the public data")
    tasks = json.loads((folder / "tasks_train.json").read_text(encoding="utf-8"))[:QUICK_TASKS]
    expected = json.loads((folder / "expected_train.json").read_text(encoding="utf-8"))
    results = replay_tasks(load_store_data(folder / "db.json"), tasks, reference_compat=True)
    report = differing_tasks(results, {str(t["id"]): expected[str(t["id"])] for t in tasks})
    return {"compat_identical": (len(tasks) - len(report)) / len(tasks)}


def _agent_main(argv: Sequence[str]) -> int:
    from apps.customer_service.eval import main

    return main(argv)


def _compat_main(argv: Sequence[str]) -> int:
    from apps.customer_service.replay import main

    return main(argv)


EVALS = (
    Evaluation("agent", "tau2-style: a simulated customer, judged on the final store and what was said "
               "(`--tasks FILE [--limit N] [--out OUT]`; needs a chat model).", main=_agent_main),
    Evaluation("compat", "gold-action replay against expected results (`--db --tasks --out --expected`); "
               f"quick: the first {QUICK_TASKS} training tasks in reference-compat mode.",
               main=_compat_main, quick=quick_compat),
)
