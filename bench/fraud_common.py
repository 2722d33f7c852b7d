"""What the fraud benchmarks share: the CPU's name, the transactions (a file or simulated), latency summaries.

Used by ``bench/fraud_scoring.py`` (batch and online scoring in process), ``bench/fraud_api_latency.py``
(single scoring through HTTP) and the July validation studies (``validation_split``, ``print_report``). Not a
benchmark itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from machine import cpu_name  # noqa: E402  (bench/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.fraud_detection.features.definition import FEATURE_NAMES  # noqa: E402

# the features the July studies compared against: the model's before the high-amount counts were adopted
BEFORE_HIGH_COUNTS = [name for name in FEATURE_NAMES if not name.startswith("CUSTOMER_NB_HIGH_RATIO_TX_")]


def machine() -> dict[str, object]:
    """The CPU, its core count and the load average when the figures were taken (the machine may be shared)."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2)}


def transactions(data: Path | None, *, simulated_days: int = 38) -> pd.DataFrame:
    """Validated transactions in time order: the file ``data``, or a simulated history of ``simulated_days``."""
    from apps.fraud_detection.features.batch import sort_history
    from apps.fraud_detection.schema import validate_frame
    from apps.fraud_detection.simulate import simulate_transactions

    if data is not None:
        from connectors.transactions import read_transactions_file

        frame = read_transactions_file(data)
    else:
        frame = validate_frame(simulate_transactions(num_customers=1000, num_terminals=2000, num_days=simulated_days, seed=1))
    return sort_history(frame)


def percentiles_ms(seconds: list[float] | np.ndarray, prefix: str = "") -> dict[str, float]:
    """p50 / p95 / p99 / max / mean of durations in seconds, in milliseconds."""
    ms = np.asarray(seconds, dtype="float64") * 1000
    out = {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)}
    out.update(max_ms=round(float(ms.max()), 3), mean_ms=round(float(ms.mean()), 3))
    return {f"{prefix}{k}": v for k, v in out.items()}


@dataclass(frozen=True)
class ValidationSplit:
    """The rows before ``until`` in time order, their aggregates and features, and which rows are fitted on and scored."""

    frame: pd.DataFrame
    agg: dict[str, np.ndarray]
    features: pd.DataFrame
    when: pd.Series
    fit_rows: np.ndarray  # labels visible at ``test_from`` (FeatureConfig's label delay)
    test: np.ndarray  # test_from <= time < until


def add_split_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--test-from`` and ``--until`` of the July studies (``validation_split(args.data, ...)``)."""
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--test-from", default="2018-07-01")
    parser.add_argument("--until", default="2018-08-01")


def validation_split(data: Path, test_from: str, until: str) -> ValidationSplit:
    """Read ``data``, drop rows from ``until`` on before anything is computed, and split the rest at ``test_from``."""
    from apps.fraud_detection.features.batch import aggregate, sort_history
    from apps.fraud_detection.features.definition import FeatureConfig, derive
    from connectors.transactions import read_transactions_file

    frame = read_transactions_file(data)
    frame = sort_history(frame[frame["TX_DATETIME"] < pd.Timestamp(until)])
    config = FeatureConfig()
    agg = aggregate(frame, config)
    when = frame["TX_DATETIME"]
    start = pd.Timestamp(test_from)
    fit_rows = ((when < start - pd.Timedelta(days=config.label_delay_days)) & (frame["TX_FRAUD"] >= 0)).to_numpy()
    return ValidationSplit(frame, agg, pd.DataFrame(derive(agg), index=frame.index), when, fit_rows, (when >= start).to_numpy())


def print_report(report: dict[str, object], started: float) -> int:
    """A study's report as one JSON line, with its wall time and the load average at the end; the exit status."""
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, default=str))
    return 0
