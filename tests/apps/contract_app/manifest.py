"""The manifest of contract_app: no chat; a router, a table with its migration, a job, commands, an eval.

Its console page is registered apart (``tests/apps/contract_app/pages``, the ``moesaic.pages`` group):
the console never imports this module."""

from __future__ import annotations

from pathlib import Path

from moesaic.apps import AppContext, AppManifest
from tests.apps.contract_app.commands import commands
from tests.apps.contract_app.evals import EVALS
from tests.apps.contract_app.jobs import ADD_NOTES, add_notes_job
from tests.apps.contract_app.notes import erase_notes
from tests.apps.contract_app.routes import router
from tests.apps.contract_app.tables import Note

MIGRATIONS = Path(__file__).parent / "migrations"
FLOORS = Path(__file__).parent / "floors.json"


def setup(ctx: AppContext) -> None:
    ctx.services["setup_ran"] = True


def warmup(ctx: AppContext) -> None:
    ctx.services["warm"] = True  # a real app loads its heavy model here


APP = AppManifest(
    name="contract_app",
    title="Contract test app",
    description="Notes per tenant: exercises every extension point of the app contract.",
    router=router,
    tables=(Note,),
    migrations=MIGRATIONS,
    jobs={ADD_NOTES: add_notes_job},
    commands=commands,
    evals=EVALS,
    setup=setup,
    warmup=warmup,
    erase=erase_notes,
)
