"""The customer_service app: retail support over the tau2 retail store (or our demo store).

The ``cs_`` tables come from the app's own Alembic branch (``migrations/``, run by ``Platform.create``);
``setup`` builds the ``RetailStore``, which seeds each tenant's store on first use. The tools reach
the store through ``ctx.services["store"]`` and their tenant's part of it through ``ctx.tenant_id``.
The system prompt quotes the policy the settings locate (the same settings that locate the knowledge
documents). ``commands`` holds the app's CLI and evaluations. The policy and our FAQ are the app's
knowledge (``knowledge``); ``gate`` turns away out-of-scope requests for any model; offline, ``dialogue``
(with ``rules`` and ``render``) lets the extractive model finish the customer's job, one step at a time. ``routes``
(with ``desk``) serves the operator desk and the returns form: the customer beside a conversation, and the
store's tools run by a person. Registered in pyproject.toml under ``moesaic.apps``.
"""

from __future__ import annotations

from pathlib import Path

from apps.customer_service.commands import EVALS, commands
from apps.customer_service.dialogue import respond
from apps.customer_service.erasure import erase, export
from apps.customer_service.gate import scope_check
from apps.customer_service.knowledge import OFFLINE_FALLBACK, knowledge_documents
from apps.customer_service.prompts import IDENTITY_POLICY, build_system_prompt
from apps.customer_service.render import TOOL_RENDERERS
from apps.customer_service.routes import router
from apps.customer_service.rules import offline_rules
from apps.customer_service.seed import DEMO_STORE_PATH, dataset_db_path, file_seeder
from apps.customer_service.store import RetailStore
from apps.customer_service.tools import TOOLS
from moesaic.apps import AppContext, AppManifest, OfflineBehaviour

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def setup(ctx: AppContext) -> None:
    """Put the services the tools use in ``ctx.services``: ``store`` and ``reference_compat`` (False here).

    The store seeds a tenant's empty store on first use from the dataset's db.json when
    ``settings.datasets_dir`` has it, else from our demo store. The tables must exist already (the
    app's migrations); setup itself touches no table, so it is cheap in every process.
    """
    source = dataset_db_path(ctx.settings) or DEMO_STORE_PATH
    ctx.services.update(store=RetailStore(ctx.db.engine, seeder=file_seeder(source)), reference_compat=False)


APP = AppManifest(
    name="customer_service",
    title="Retail customer service",
    description="Retail support: look up users, orders and products; cancel or modify pending orders; "
    "return or exchange delivered items; change addresses; hand off to a person. Writes need the "
    "customer's explicit confirmation.",
    system_prompt=build_system_prompt,
    tools=TOOLS,
    knowledge_base="customer_service",
    confirm_writes=True,
    identity=IDENTITY_POLICY,
    migrations=MIGRATIONS_DIR,
    setup=setup,
    offline=OfflineBehaviour(rules=offline_rules, fallback=OFFLINE_FALLBACK, renderers=TOOL_RENDERERS, dialogue=respond),
    knowledge_documents=knowledge_documents,
    scope_check=scope_check,
    router=router,
    commands=commands,
    evals=EVALS,
    erase=erase,
    export=export,
)
