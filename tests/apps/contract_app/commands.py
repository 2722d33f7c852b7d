"""``moesaic apps contract_app add TEXT`` and ``... count``: the app's own commands."""

from __future__ import annotations

import typer

from moesaic.apps import command_context
from moesaic.access import ensure_tenant
from tests.apps.contract_app.notes import add_note, count_notes

commands = typer.Typer(help="contract_app: notes.", no_args_is_help=True)


@commands.command()
def add(ctx: typer.Context, text: str, tenant: str = "default") -> None:
    """Add a note for a tenant."""
    app = command_context(ctx)
    note = add_note(app.db, ensure_tenant(app.db, tenant), text)
    typer.echo(note["id"])


@commands.command()
def count(ctx: typer.Context, tenant: str = "default") -> None:
    """Print how many notes a tenant has."""
    app = command_context(ctx)
    typer.echo(count_notes(app.db, ensure_tenant(app.db, tenant)))
