"""The fraud_detection app's manifest: no chat; routes, tables, jobs, the shipped model, commands, the evaluation.

``setup`` puts a ``ModelCache`` (loaded models by version, each tenant's active version) in
``ctx.services``; ``warmup`` loads the shipped model, so the first score is not slow.
"""

from __future__ import annotations

import json
from pathlib import Path

from apps.fraud_detection.cli import eval_main
from apps.fraud_detection.commands import commands
from apps.fraud_detection.erasure import erase
from apps.fraud_detection.jobs import IMPORT, RETRAIN, SCORE_BATCH, import_transactions_job, retrain_job, score_batch_job
from apps.fraud_detection.routes import router
from apps.fraud_detection.scoring import ARTEFACT, MODEL_NAME, ModelCache
from apps.fraud_detection.tables import TABLES
from moesaic.apps import AppContext, AppManifest, Evaluation, ShippedModel

MIGRATIONS = Path(__file__).parent / "migrations"
SHIPPED = ShippedModel(name=MODEL_NAME, version=json.loads((ARTEFACT / "model.json").read_text(encoding="utf-8"))["version"],
                       uri=str(ARTEFACT))

EVALS = (
    Evaluation(name="leakproof", main=eval_main,
               description="--train FILE --test FILE --test-from DATE [--label-delay-days 7] [--out SCORES.csv] [--peer]"),
)


def setup(ctx: AppContext) -> None:
    if "model_cache" not in ctx.services:
        ctx.services["model_cache"] = ModelCache(ctx.models)


def warmup(ctx: AppContext) -> None:
    setup(ctx)
    ctx.services["model_cache"].load(SHIPPED.version, SHIPPED.uri)


APP = AppManifest(
    name="fraud_detection",
    title="Card fraud detection",
    description="Card transactions in, calibrated fraud scores with reasons out; alerts open cases whose "
    "investigator labels feed the features and the next training.",
    router=router,
    tables=TABLES,
    migrations=MIGRATIONS,
    jobs={IMPORT: import_transactions_job, SCORE_BATCH: score_batch_job, RETRAIN: retrain_job},
    models=(SHIPPED,),
    commands=commands,
    evals=EVALS,
    setup=setup,
    warmup=warmup,
    erase=erase,
)
