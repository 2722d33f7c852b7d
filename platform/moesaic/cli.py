"""The ``moesaic`` command: serve, ui, demo, seed, worker, ingest, keys, eval, engine, apps.

The core names no app: `moesaic apps <name> ...` and `moesaic eval <name> ...` come from the installed
apps' manifests (``app_loader``; tests replace it), `moesaic eval --all --quick` is the evaluation gate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from moesaic.config import get_settings
from moesaic.errors import MoesaicError

if TYPE_CHECKING:
    from moesaic.apps import AppManifest

# What the CLI runs: the installed apps. Tests set this to register apps without entry points.
app_loader: Callable[[], dict[str, "AppManifest"]] = lambda: _load_installed()
PLATFORM_KEY = "moesaic.cli.platform"
APPS_KEY = "moesaic.cli.apps"


def _load_installed() -> dict[str, "AppManifest"]:
    from moesaic.apps import load_apps

    return load_apps()


def installed_apps(ctx: typer.Context | None = None) -> dict[str, "AppManifest"]:
    """The apps for this invocation (loaded once per command line)."""
    if ctx is None:
        return app_loader()
    meta = ctx.meta
    if APPS_KEY not in meta:
        meta[APPS_KEY] = app_loader()
    return meta[APPS_KEY]  # type: ignore[no-any-return]


def _platform_for(ctx: typer.Context) -> Any:
    """One platform per command line, built on first use and closed when the command ends."""
    if PLATFORM_KEY not in ctx.meta:
        from moesaic.services import Platform

        platform = Platform.create(get_settings(), apps=installed_apps(ctx), start_worker=True)
        ctx.find_root().call_on_close(platform.close)
        ctx.meta[PLATFORM_KEY] = platform
    return ctx.meta[PLATFORM_KEY]


class AppCommandsGroup(TyperGroup):
    """``moesaic apps <name> ...``: each app's own ``commands`` (a typer.Typer), found at run time."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(name for name, app in installed_apps(ctx).items() if app.commands is not None)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        app = installed_apps(ctx).get(cmd_name)
        if app is None or app.commands is None:
            return None
        from moesaic.apps.routing import CONTEXT_FACTORY_KEY

        ctx.meta[CONTEXT_FACTORY_KEY] = lambda: _platform_for(ctx).app_context(cmd_name)
        group = typer.main.get_group(app.commands)
        group.name = cmd_name
        group.help = group.help or f"{app.title}: the app's own commands."
        return group


class EvalGroup(TyperGroup):
    """``moesaic eval``: the core's ``retrieval`` plus ``moesaic eval <app> [<evaluation>] ARGS``."""

    def list_commands(self, ctx: Any) -> list[str]:
        apps = [name for name, app in installed_apps(ctx).items() if any(e.main for e in app.evals)]
        return [*super().list_commands(ctx), *sorted(apps)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        app = installed_apps(ctx).get(cmd_name)
        if app is None or not any(e.main for e in app.evals):
            return None
        return _app_eval_command(app)


def _app_eval_command(app: "AppManifest") -> Any:
    runnable = [e for e in app.evals if e.main is not None]
    names = ", ".join(e.name for e in runnable)
    holder = typer.Typer()

    @holder.command(app.name, help=f"{app.title}: `moesaic eval {app.name} [EVALUATION] ARGS` (evaluations: "
                    f"{names}; the first is the default; ARGS --help for its options).",
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
    def run(ctx: typer.Context) -> None:
        argv = list(ctx.args)
        chosen = next((e for e in runnable if argv and argv[0] == e.name), None)
        if chosen is not None:
            argv = argv[1:]
        evaluation = chosen or runnable[0]
        assert evaluation.main is not None, "runnable evaluations have a main"
        raise typer.Exit(evaluation.main(argv) or 0)

    return typer.main.get_command(holder)


cli = typer.Typer(help="Moesaic: domain AI assistants on a Mixture-of-Experts model service.", no_args_is_help=True)
keys_cli = typer.Typer(help="API keys.", no_args_is_help=True)
eval_cli = typer.Typer(cls=EvalGroup, help="Evaluations: `moesaic eval --all --quick` is the gate.",
                       no_args_is_help=True, invoke_without_command=True)
apps_cli = typer.Typer(cls=AppCommandsGroup, help="App-specific commands: `moesaic apps <name> ...`.",
                       no_args_is_help=True)
models_cli = typer.Typer(help="App model versions: list, promote, roll back.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(models_cli, name="models")
cli.add_typer(eval_cli, name="eval")
cli.add_typer(apps_cli, name="apps")

REPO_ROOT = Path(__file__).resolve().parents[2]
UI_ENTRY = REPO_ROOT / "ui" / "app.py"
DEMO_KEY = "msk-demo-0000-change-me"
FLOORS_PATH = REPO_ROOT / "evals" / "floors.json"


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

    from moesaic.heap import freeze_startup_heap
    from moesaic.privacy import install_log_redaction

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    settings = get_settings()
    platform = Platform.create(settings, apps=installed_apps(), start_worker=False)
    platform.warm_up()  # app job handlers may need their heavy models
    freeze_startup_heap()
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
    from moesaic.access import ensure_tenant
    from moesaic.retrieval.commands import ingest_paths
    from moesaic.services import Platform

    platform = Platform.create(get_settings(), apps=installed_apps(), start_worker=True)
    try:
        ingest_paths(platform.knowledge, ensure_tenant(platform.db, tenant), kb, list(paths), progress=True)
    finally:
        platform.close()


@keys_cli.command("create")
def keys_create(
    tenant: str = "default",
    name: str = "",
    app: Annotated[Optional[list[str]], typer.Option(help="Limit the key to these apps.")] = None,
    role: Annotated[str, typer.Option(help="viewer (reads), operator (acts) or admin (also manages keys and accounts).")] = "operator",
) -> None:
    """Create an API key (printed once; stored as a salted hash)."""
    from moesaic.access import authenticate, create_api_key, record

    db = _database()
    key = create_api_key(db, tenant, name=name, apps=app or None, role=role)
    made = authenticate(db, key)
    record(db, None, "keys create", tenant_id=made.tenant_id, target=made.id, detail={"role": role, "apps": app or None})
    typer.echo(key)


def _database():  # type: ignore[no-untyped-def]
    """The configured database, migrated with every registered app's folder."""
    from moesaic.apps import migration_folders
    from moesaic.db import Database

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate(version_locations=migration_folders(installed_apps().values()))
    return db


@keys_cli.command("list")
def keys_list(tenant: str = "default") -> None:
    """List a tenant's keys (never their secrets)."""
    from moesaic.access import find_tenant, list_keys

    db = _database()
    tenant_id = find_tenant(db, tenant)
    for key in list_keys(db, tenant_id) if tenant_id else []:
        state = "revoked" if key.revoked_at else ("expires " + key.expires_at.isoformat() if key.expires_at else "active")
        typer.echo(f"{key.id}  {key.prefix}…  {key.role:8}  {key.name or '-'}  apps={','.join(key.apps or ['*'])}  {state}")


@keys_cli.command("revoke")
def keys_revoke(key_id: str, tenant: str = "default") -> None:
    """Revoke a key at once (its next request gets 401)."""
    from moesaic.access import find_tenant, record, revoke_key

    db = _database()
    tenant_id = find_tenant(db, tenant) or ""
    revoke_key(db, tenant_id, key_id)
    record(db, None, "keys revoke", tenant_id=tenant_id, target=key_id)
    typer.echo(f"revoked {key_id}")


def _model_registry(app: str):  # type: ignore[no-untyped-def]
    from moesaic.models import ModelRegistry

    apps = installed_apps()
    if app not in apps:
        raise typer.BadParameter(f"unknown app {app!r}; installed: {', '.join(sorted(apps)) or 'none'}")
    return ModelRegistry(_database(), {name: manifest.models for name, manifest in apps.items()}), apps[app]


@models_cli.command("list")
def models_list(app: str, tenant: str = "default") -> None:
    """The app's models, each version with its status (the active one is what results are made with)."""
    from moesaic.access import ensure_tenant

    registry, manifest = _model_registry(app)
    tenant_id = ensure_tenant(registry.db, tenant)
    for shipped in manifest.models:
        for version in registry.versions(tenant_id, app, shipped.name):
            typer.echo(f"{shipped.name}  {version.version}  {version.status:9}  {json.dumps(version.metrics)}  {version.uri}")


@models_cli.command("promote")
def models_promote(app: str, name: str, version: str, tenant: str = "default") -> None:
    """Make VERSION the active one (the one it replaces is kept for `moesaic models rollback`)."""
    from moesaic.access import ensure_tenant, record

    registry, _ = _model_registry(app)
    tenant_id = ensure_tenant(registry.db, tenant)
    promoted = registry.promote(tenant_id, app, name, version, by="moesaic models promote")
    record(registry.db, None, "models promote", tenant_id=tenant_id, app=app, target=f"{name}:{version}")
    typer.echo(f"{app}/{name}: {promoted.version} is active (replaced {promoted.previous_active})")


@models_cli.command("rollback")
def models_rollback(app: str, name: str, tenant: str = "default") -> None:
    """Return to the version the last promotion replaced."""
    from moesaic.access import ensure_tenant, record

    registry, _ = _model_registry(app)
    tenant_id = ensure_tenant(registry.db, tenant)
    restored = registry.rollback(tenant_id, app, name, by="moesaic models rollback")
    record(registry.db, None, "models rollback", tenant_id=tenant_id, app=app, target=f"{name}:{restored.version}")
    typer.echo(f"{app}/{name}: {restored.version} is active again")


@eval_cli.callback()
def eval_gate(
    ctx: typer.Context,
    all_apps: Annotated[bool, typer.Option("--all", help="Every installed app.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="Quick evaluations on small slices, gated by the floors.")] = False,
    app: Annotated[Optional[list[str]], typer.Option("--app", help="Only this app (repeatable).")] = None,
    floors: Annotated[Path, typer.Option(help="Floors file: {'<app>.<eval>': {metric: floor}}.")] = FLOORS_PATH,
    allow_missing_data: Annotated[bool, typer.Option(help="Count an evaluation whose data is absent as skipped, not failed.")] = False,
) -> None:
    """Run app evaluations. `moesaic eval --all --quick` fails (exit 1) when a metric is under its floor."""
    if ctx.invoked_subcommand is not None:
        if all_apps or quick or app:
            raise typer.BadParameter("--all, --quick and --app go without a subcommand")
        return
    if not quick:
        raise typer.BadParameter("without a subcommand, evaluations run quick: add --quick (with --all or --app NAME)")
    if not all_apps and not app:
        raise typer.BadParameter("name the apps: --all, or --app NAME")
    _run_quick_gate(ctx, app or [], floors, allow_missing_data)


def _run_quick_gate(ctx: typer.Context, only: list[str], floors_path: Path, allow_missing_data: bool) -> None:
    from moesaic.apps import load_floors
    from moesaic.quick_evals import run_quick_evals

    apps = installed_apps(ctx)
    unknown = sorted(set(only) - set(apps))
    if unknown:
        raise typer.BadParameter(f"unknown app(s) {', '.join(unknown)}; installed: {', '.join(sorted(apps)) or 'none'}")
    selected = {name: manifest for name, manifest in apps.items() if not only or name in only}
    results = run_quick_evals(get_settings(), selected, load_floors(floors_path))
    failed = [r.key for r in results if not r.passed(allow_missing_data=allow_missing_data)]
    for result in results:
        if result.error or result.missing_data:
            label = "SKIPPED" if result.missing_data and allow_missing_data else "FAILED"
            typer.echo(f"{result.key:<36} {label}: {result.error or 'missing data: ' + str(result.missing_data)}")
        for check in result.checks:
            value = "missing" if check.value is None else f"{check.value:.4f}"
            floor = "-" if check.floor is None else f"{check.floor:.4f}"
            verdict = "ok" if check.passed else "UNDER FLOOR"
            typer.echo(f"{result.key:<36} {check.metric:<22} {value:>8}  floor {floor:>8}  {verdict}")
    if not results:
        failed.append("(no quick evaluation registered)")
    summary = {"passed": not failed, "failed": failed, "floors": str(floors_path),
               "results": {r.key: {c.metric: c.value for c in r.checks} for r in results}}
    typer.echo(json.dumps(summary))
    if failed:
        raise typer.Exit(1)


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


@cli.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def engine(ctx: typer.Context) -> None:
    """The MoE inference engine: `moesaic engine serve --model DIR ...`."""
    from moesaic.engine.server import main as engine_main

    engine_main(list(ctx.args))


@cli.command()
def seed(ctx: typer.Context) -> None:
    """Load the demo data: runs `moesaic apps <name> seed` for every app that has a `seed` command."""
    group = AppCommandsGroup(name="apps")
    ran = []
    for name in group.list_commands(ctx):
        app_group = group.get_command(ctx, name)
        if isinstance(app_group, TyperGroup) and app_group.get_command(ctx, "seed") is not None:
            with app_group.make_context(name, ["seed"], parent=ctx) as sub:
                app_group.invoke(sub)
            ran.append(name)
    typer.echo(f"seeded: {', '.join(ran) or 'no app has a seed command'}")


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
