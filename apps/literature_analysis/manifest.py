"""The literature_analysis app: saved PubMed queries synced as jobs, claim checks with rationale sentences, contradictions and summaries over
biomedical abstracts, trained offline models (MiniLM + LoRA cross-encoders) and SciFact/PubMedQA evaluations.
Registered in pyproject.toml under ``moesaic.apps``."""

from __future__ import annotations

from pathlib import Path

from apps.literature_analysis.commands import EVALS, commands
from apps.literature_analysis.embedder import EMBEDDER_NAME, literature_embedder
from apps.literature_analysis.jobs import SUMMARISE, summarise_job
from apps.literature_analysis.pubmed_tools import add_pubmed_articles, search_pubmed
from apps.literature_analysis.routes import router
from apps.literature_analysis.saved_queries import TABLES
from apps.literature_analysis.sync import SYNC_JOB, install_schedule, pubmed_settings, sync_job
from apps.literature_analysis.tools import DEFAULT_KB, TOOLS
from moesaic.apps import AppContext, AppManifest


SYSTEM_PROMPT = """You answer research questions about biomedical literature. Rest every statement on the
abstracts you are given or fetch with your tools, and cite them with their numbers like [1]. Use the
tools: search_literature to find papers in the knowledge base, search_pubmed to search PubMed itself
and add_pubmed_articles to bring papers found there into the knowledge base, fetch_abstract to read one, check_claim to test a claim
(it returns SUPPORT / CONTRADICT / NOT_ENOUGH_INFO with the deciding sentences) and
summarise_literature for a cited summary. For a yes/no question, answer yes, no or maybe first, then
the sentences that decide it, cited. Say so when the literature given does not answer the question."""


def setup(ctx: AppContext) -> None:
    """Cheap: the models load in ``warmup`` (or on first use); tools reach the knowledge service here."""
    ctx.services.setdefault("artefact", None)
    ctx.services["knowledge"] = ctx.knowledge
    ctx.services["chat_model"] = ctx.model
    pubmed_settings(ctx.services)  # MOESAIC_PUBMED_*: a bad value stops start-up naming the setting
    install_schedule(ctx)  # workers queue the syncs of due saved queries


def warmup(ctx: AppContext) -> None:
    from apps.literature_analysis.models import get_models

    get_models(ctx.services)


APP = AppManifest(
    name="literature_analysis",
    title="Literature analysis",
    description="Claim checks over biomedical abstracts: SUPPORT / CONTRADICT / NOT_ENOUGH_INFO per abstract with "
    "the rationale sentences (exact offsets) and an overall verdict; contradictions side by side; extractive "
    "cited summaries. Offline models trained on SciFact; the LLM mode uses the configured chat model.",
    system_prompt=SYSTEM_PROMPT,
    tools=(*TOOLS, search_pubmed, add_pubmed_articles),
    knowledge_base=DEFAULT_KB,
    knowledge_base_settings={"embedder": EMBEDDER_NAME},
    embedders={EMBEDDER_NAME: literature_embedder},
    router=router,
    tables=TABLES,
    migrations=Path(__file__).parent / "migrations",
    jobs={SUMMARISE: summarise_job, SYNC_JOB: sync_job},
    commands=commands,
    evals=EVALS,
    setup=setup,
    warmup=warmup,
)
