"""``moesaic eval --all --quick``: run every app's quick evaluation and hold each metric to its floor.

The runs happen in a throwaway home (temporary SQLite database and vector store) with the configured
model and datasets, so a gate never touches an operator's data. A metric under its floor, a floored
metric the run did not return, an evaluation without a recorded floor, a crash, and (unless allowed)
missing data all fail the gate. This module runs and judges; the CLI prints.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from moesaic.apps import AppManifest, MissingData, check_floors
from moesaic.apps.evaluation import FloorCheck, Floors
from moesaic.config import Settings
from moesaic.llm import ChatModel

log = logging.getLogger(__name__)


@dataclass
class QuickResult:
    key: str  # "<app>.<eval>"
    checks: list[FloorCheck] = field(default_factory=list)
    error: str | None = None
    missing_data: str | None = None
    seconds: float = 0.0

    def passed(self, *, allow_missing_data: bool = False) -> bool:
        if self.error is not None:
            return False
        if self.missing_data is not None:
            return allow_missing_data
        return all(check.passed for check in self.checks)


def run_quick_evals(settings: Settings, apps: dict[str, AppManifest], floors: Floors, *,
                    model: ChatModel | None = None) -> list[QuickResult]:
    """Build one platform over ``apps`` in a temporary home and run each registered quick evaluation."""
    from moesaic.services import Platform

    results: list[QuickResult] = []
    with tempfile.TemporaryDirectory(prefix="moesaic-quick-eval-") as home:
        run_settings = settings.model_copy(update={
            "home": Path(home), "database_url": None, "chroma_url": None, "bootstrap_api_key": None,
            "answer_cache": False,  # an evaluation measures the model, not answers kept from earlier questions
        })
        platform = Platform.create(run_settings, apps=apps, model=model)
        try:
            for app in platform.apps:
                for evaluation in app.evals:
                    if evaluation.quick is None:
                        continue
                    result = QuickResult(f"{app.name}.{evaluation.name}")
                    started = time.perf_counter()
                    try:
                        metrics = dict(evaluation.quick(platform.app_context(app.name)))
                        result.checks = check_floors(result.key, metrics, floors)
                    except MissingData as exc:
                        result.missing_data = str(exc)
                    except Exception as exc:  # one broken evaluation fails the gate, not the run
                        log.exception("quick evaluation %s failed", result.key)
                        result.error = f"{type(exc).__name__}: {exc}"
                    result.seconds = round(time.perf_counter() - started, 2)
                    results.append(result)
        finally:
            platform.close()
    return results
