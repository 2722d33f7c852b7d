"""The customer_service app: retail support over the tau2 retail store (or our demo store).

``setup`` creates the ``cs_`` tables in the platform database and seeds them once; the tools reach
the store through ``ctx.services["store"]``. The system prompt quotes the policy the settings locate
(the same settings that locate the knowledge documents). ``commands`` holds the app's CLI and evaluations. The policy and our FAQ are the app's knowledge
(``knowledge``); ``gate`` turns away out-of-scope requests for any model; offline, ``rules`` and
``render`` let the extractive model run lookups and show them to the customer. Registered in pyproject.toml under ``moesaic.apps``.
"""

from __future__ import annotations

import logging
from sqlalchemy.exc import IntegrityError

from apps.customer_service.commands import EVALS, commands
from apps.customer_service.gate import scope_check
from apps.customer_service.knowledge import OFFLINE_FALLBACK, knowledge_documents
from apps.customer_service.prompts import build_system_prompt
from apps.customer_service.render import TOOL_RENDERERS
from apps.customer_service.rules import offline_rules
from apps.customer_service.seed import DEMO_STORE_PATH, dataset_db_path, load_store_data, seed_store
from apps.customer_service.store import RetailStore
from apps.customer_service.tools import TOOLS
from moesaic.apps import AppContext, AppManifest, OfflineBehaviour

log = logging.getLogger(__name__)


def setup(ctx: AppContext) -> None:
    """Create the store tables in the platform database and seed them if empty.

    Seeds the dataset's db.json when ``settings.datasets_dir`` has it, else our demo store. Puts the
    services the tools use in ``ctx.services``: ``store`` and ``reference_compat`` (always False here).
    """
    db, settings = ctx.db, ctx.settings
    store = RetailStore(db.engine)
    store.create_tables()
    if store.is_empty():
        source = dataset_db_path(settings) or DEMO_STORE_PATH
        try:
            seed_store(db.engine, load_store_data(source))
            log.info("customer_service: seeded the store from %s", source)
        except IntegrityError:
            if store.is_empty():
                raise
            log.info("customer_service: another process seeded the store first")
    ctx.services.update(store=store, reference_compat=False)


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
    setup=setup,
    offline=OfflineBehaviour(rules=offline_rules, fallback=OFFLINE_FALLBACK, renderers=TOOL_RENDERERS),
    knowledge_documents=knowledge_documents,
    scope_check=scope_check,
    commands=commands,
    evals=EVALS,
)
