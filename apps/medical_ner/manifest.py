"""The medical_ner app: problems, treatments and tests in clinical text, with offsets and assertions.

Not a chat app (no system prompt). It contributes a router (``POST /v1/apps/medical_ner/extract``, batch ``jobs``),
the job ``extract_file``,
CLI commands (``train``), evaluations (``ner``, ``assertion``) and, in ``warmup``, the loaded classifier. Registered in pyproject.toml under
``moesaic.apps``.
"""

from __future__ import annotations

from apps.medical_ner.commands import EVALS, commands
from apps.medical_ner.erasure import erase, export
from apps.medical_ner.jobs import EXTRACT_FILE, extract_file_job
from apps.medical_ner.routes import router
from moesaic.apps import AppContext, AppManifest


def setup(ctx: AppContext) -> None:
    """Cheap: nothing is loaded here (``warmup`` loads the model)."""
    ctx.services.setdefault("artefact", None)


def warmup(ctx: AppContext) -> None:
    from apps.medical_ner.service import get_extractor

    get_extractor(ctx.services, ctx.model)


APP = AppManifest(
    name="medical_ner",
    title="Medical entity extraction",
    description="Problems, treatments and tests in clinical and biomedical text, with exact character "
    "offsets and assertion status (present, absent, possible, hypothetical, conditional, someone else). "
    "The offline model (MiniLM + LoRA, trained on NCBI-disease and BC5CDR) finds problems and treatments; "
    "the LLM mode also finds tests.",
    router=router,
    jobs={EXTRACT_FILE: extract_file_job},
    commands=commands,
    evals=EVALS,
    setup=setup,
    warmup=warmup,
    erase=erase,
    export=export,
)
