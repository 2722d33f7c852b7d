"""The literature_analysis app: claim checks with rationale sentences, contradictions and summaries over
biomedical abstracts, trained offline models (MiniLM + LoRA cross-encoders) and SciFact/PubMedQA evaluations.
Registered in pyproject.toml under ``moesaic.apps``."""

from __future__ import annotations

from apps.literature_analysis.commands import EVALS, commands
from apps.literature_analysis.routes import router
from moesaic.apps import AppContext, AppManifest


def setup(ctx: AppContext) -> None:
    """Cheap: the models load in ``warmup`` (or on first use)."""
    ctx.services.setdefault("artefact", None)


def warmup(ctx: AppContext) -> None:
    from apps.literature_analysis.models import get_models

    get_models(ctx.services)


APP = AppManifest(
    name="literature_analysis",
    title="Literature analysis",
    description="Claim checks over biomedical abstracts: SUPPORT / CONTRADICT / NOT_ENOUGH_INFO per abstract with "
    "the rationale sentences (exact offsets) and an overall verdict; contradictions side by side; extractive "
    "cited summaries. Offline models trained on SciFact; the LLM mode uses the configured chat model.",
    router=router,
    commands=commands,
    evals=EVALS,
    setup=setup,
    warmup=warmup,
)
