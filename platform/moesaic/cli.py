"""The ``moesaic`` command: serve, ui, demo, worker, ingest, keys, eval, engine, apps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from moesaic.config import get_settings
from moesaic.errors import MoesaicError

cli = typer.Typer(help="Moesaic: domain AI assistants on a Mixture-of-Experts model service.", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys.", no_args_is_help=True)
eval_cli = typer.Typer(help="Evaluations.", no_args_is_help=True)
apps_cli = typer.Typer(help="App-specific commands.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(eval_cli, name="eval")
cli.add_typer(apps_cli, name="apps")

REPO_ROOT = Path(__file__).resolve().parents[2]
UI_ENTRY = REPO_ROOT / "ui" / "app.py"
DEMO_KEY = "msk-demo-0000-change-me"


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the REST API (uvicorn)."""
    import uvicorn

    from moesaic.api.main import create_app

    uvicorn.run(create_app(get_settings()), host=host, port=port, log_level="info")


@cli.command()
def ui(host: str = "127.0.0.1", port: int = 8501) -> None:
    """Run the Streamlit operator console (it talks to the API at MOESAIC_API_URL)."""
    command = [sys.executable, "-m", "streamlit", "run", str(UI_ENTRY), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.maxUploadSize", "50"]  # MiB, as the API accepts
    raise typer.Exit(subprocess.call(command))


@cli.command()
def worker(
    concurrency: Annotated[Optional[int], typer.Option(help="Handler threads (default: MOESAIC_WORKER_CONCURRENCY).")] = None,
) -> None:
    """Run a job consumer (ingestion and every app's jobs) until SIGINT or SIGTERM."""
    import logging

    from moesaic.jobs import JobWorker
    from moesaic.jobs.broker import describe
    from moesaic.services import Platform

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    platform = Platform.create(settings, start_worker=False)
    platform.knowledge.ingest_jobs.requeue_orphans()
    threads = concurrency or settings.worker_concurrency
    typer.echo(f"worker on {describe(platform.jobs.broker)} with {threads} threads; Ctrl-C to stop")
    try:
        JobWorker(platform.jobs, threads).run_forever()
    finally:
        platform.close()


@cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Files or folders to ingest.")],
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base name.")] = "default",
    tenant: str = "default",
) -> None:
    """Ingest files into a knowledge base, with a progress bar."""
    from moesaic.memory import ensure_tenant
    from moesaic.retrieval.commands import ingest_paths
    from moesaic.services import Platform

    platform = Platform.create(get_settings(), start_worker=True)
    try:
        ingest_paths(platform.knowledge, ensure_tenant(platform.db, tenant), kb, list(paths), progress=True)
    finally:
        platform.close()


@keys_cli.command("create")
def keys_create(tenant: str = "default", name: str = "", app: Annotated[Optional[list[str]], typer.Option(help="Limit the key to these apps.")] = None) -> None:
    """Create an API key (printed once; stored hashed)."""
    from moesaic.db import Database
    from moesaic.memory import create_api_key

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    typer.echo(create_api_key(db, tenant, name=name, apps=app or None))


@eval_cli.command("retrieval")
def eval_retrieval(
    beir: Annotated[Path, typer.Option("--beir", exists=True, file_okay=False, help="BEIR-layout folder.")],
    split: str = "test",
    mode: Annotated[Optional[list[str]], typer.Option(help="hybrid, dense or keyword (repeatable; default all three).")] = None,
    queries: Annotated[str, typer.Option(help="all, dev or heldout: a fixed hash split of the queries (tune on dev).")] = "all",
    work_dir: Annotated[Optional[Path], typer.Option(help="Keep the index here between runs.")] = None,
) -> None:
    """Index a BEIR corpus in a temporary knowledge base and print nDCG@10, recall and MRR per mode."""
    from moesaic.retrieval.commands import evaluate_beir, print_eval

    try:
        results = evaluate_beir(beir, split, mode or ["hybrid", "dense", "keyword"], queries=queries, work_dir=work_dir)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    print_eval(results)


@eval_cli.command("customer_service", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                                         "help_option_names": []})
def eval_customer_service(ctx: typer.Context) -> None:
    """tau2-style agent evaluation with a simulated customer: `--tasks FILE [--limit N] [--out OUT]` (--help for all)."""
    from apps.customer_service.eval import main as eval_main

    raise typer.Exit(eval_main(list(ctx.args)) or 0)


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def engine(ctx: typer.Context) -> None:
    """The MoE inference engine: `moesaic engine serve --model DIR ...`."""
    from moesaic.engine.server import main as engine_main

    engine_main(list(ctx.args))


@apps_cli.command("customer_service", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def customer_service(ctx: typer.Context) -> None:
    """Customer service commands: `replay --db DB --tasks TASKS --out OUT [--reference-compat]`."""
    from apps.customer_service.replay import main as replay_main

    args = list(ctx.args)
    if not args or args[0] != "replay":
        raise typer.BadParameter("the only command is 'replay'")
    raise typer.Exit(replay_main(args[1:]) or 0)


@cli.command()
def seed() -> None:
    """Load the demo documents (written by us) into the knowledge base 'default'."""
    from moesaic.memory import ensure_tenant
    from moesaic.retrieval.commands import ingest_paths
    from moesaic.services import Platform

    platform = Platform.create(get_settings(), start_worker=True)
    try:
        seed_dir = REPO_ROOT / "apps" / "kb_assistant" / "seed"
        ingest_paths(platform.knowledge, ensure_tenant(platform.db), "default", sorted(seed_dir.iterdir()), progress=True)
    finally:
        platform.close()


@cli.command()
def demo(host: str = "127.0.0.1", api_port: int = 8000, ui_port: int = 8501) -> None:
    """Seed the demo data, then run the API and the console until Ctrl-C."""
    env = dict(os.environ)
    env.setdefault("MOESAIC_BOOTSTRAP_API_KEY", DEMO_KEY)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["MOESAIC_API_URL"] = f"http://{host}:{api_port}"
    env.setdefault("MOESAIC_UI_API_KEY", env["MOESAIC_BOOTSTRAP_API_KEY"])
    me = [sys.executable, "-m", "moesaic.cli"]
    subprocess.check_call([*me, "seed"], env=env)
    api = subprocess.Popen([*me, "serve", "--host", host, "--port", str(api_port)], env=env)
    console = subprocess.Popen([*me, "ui", "--host", host, "--port", str(ui_port)], env=env)
    typer.echo(
        f"\nMoesaic demo\n  API:     http://{host}:{api_port}/v1  (docs: http://{host}:{api_port}/docs)\n"
        f"  Console: http://{host}:{ui_port}\n  API key: {env['MOESAIC_BOOTSTRAP_API_KEY']}\n"
        "  Model:   " + (env.get("MOESAIC_LLM_BASE_URL") or "extractive (offline; no generative model configured)") + "\nCtrl-C stops both.\n"
    )
    try:
        while api.poll() is None and console.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in (api, console):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (api, console):
            process.wait(timeout=30)


def main() -> None:
    try:
        cli()
    except MoesaicError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
