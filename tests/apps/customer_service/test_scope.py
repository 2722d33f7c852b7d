"""The out-of-scope router: committed weights, real MiniLM, offline."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from apps.customer_service.scope import MODEL_PATH, RETAIL_LABEL, ScopeRouter, evaluate, tau2_requests  # noqa: E402
from tests.conftest import DATASETS_DIR  # noqa: E402


@pytest.fixture(scope="module")
def router() -> ScopeRouter:
    return ScopeRouter.load()


def test_committed_weights_are_small_and_complete() -> None:
    assert MODEL_PATH.stat().st_size < 1_000_000
    loaded = ScopeRouter.load(embedder=object())
    assert len(loaded.labels) == 152 and RETAIL_LABEL in loaded.labels and "oos" in loaded.labels
    assert loaded.weights.shape == (152, 384) and 0.0 < loaded.threshold < 1.0


def test_low_confidence_is_out_of_scope() -> None:
    flat = ScopeRouter(np.zeros((3, 4)), np.zeros(3), ["retail_support", "weather", "oos"], 0.5, embedder=object())
    decision = flat.predict_vectors(np.ones((1, 4), dtype=np.float32))[0]
    assert decision.intent == "oos" and not decision.is_in_scope and decision.confidence == pytest.approx(1 / 3)


def test_routes_retail_requests_in_and_others_out(router: ScopeRouter) -> None:
    in_scope = [
        "I want to return the hiking boots from my last order",
        "please cancel order #W2378156, I ordered it by mistake",
        "yes",
    ]
    out_of_scope = ["what's the weather going to be like in boston tomorrow", "translate good morning into french",
                    "how do i change the oil in my car"]
    decisions = router.classify(in_scope + out_of_scope)
    assert [d.is_in_scope for d in decisions] == [True] * 3 + [False] * 3, decisions


@pytest.mark.slow
def test_clinc150_validation_metrics() -> None:
    clinc = DATASETS_DIR / "clinc150"
    if not (clinc / "data_full_dev.json").is_file():
        pytest.skip("clinc150 not found")
    metrics = evaluate(ScopeRouter.load(), clinc, tau2_requests(DATASETS_DIR / "tau2_retail"))
    print(metrics)
    assert metrics["in_scope_accuracy"] > 0.85
    assert metrics["oos_recall"] > 0.4
    assert metrics["retail_router_rejects_non_retail"] > 0.9
    assert metrics["retail_router_keeps_retail_requests"] > 0.8
