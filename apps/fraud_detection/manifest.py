"""The fraud_detection app's manifest: no chat; the training command and the leak-proof evaluation.

Routes, tables, jobs and pages come with the next steps of issue 13.
"""

from __future__ import annotations

from apps.fraud_detection.cli import eval_main
from apps.fraud_detection.commands import commands
from moesaic.apps import AppManifest, Evaluation

EVALS = (
    Evaluation(name="leakproof", main=eval_main,
               description="--train FILE --test FILE --test-from DATE [--label-delay-days 7] [--out SCORES.csv] [--peer]"),
)

APP = AppManifest(
    name="fraud_detection",
    title="Card fraud detection",
    description="Card transactions in, calibrated fraud scores with reasons out.",
    commands=commands,
    evals=EVALS,
)
