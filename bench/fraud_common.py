"""What the fraud benchmarks share: the CPU's name, the transactions (a file or simulated), latency summaries.

Used by ``bench/fraud_scoring.py`` (batch and online scoring in process) and ``bench/fraud_api_latency.py``
(single scoring through HTTP). Not a benchmark itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from machine import cpu_name  # noqa: E402  (bench/ is the script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))




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
