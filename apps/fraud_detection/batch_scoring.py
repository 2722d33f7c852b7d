"""Batch scoring of a feature frame: calibrated scores for every row, the first reason in words for the
scores worth a look (``REASONS_MIN_SCORE``), per array (``reasons.first_reasons``), not per row.

TreeSHAP is the one cost that grows with the rows worth a look (about 0.4 ms a row on two cores), so
contributions are computed only for them; wording them costs about a microsecond a row. Equal, row for
row, to what ``POST /score`` answers for the same features (its first reason).

Not here: features (``features.batch``), the job and its stored history (``jobs``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from apps.fraud_detection.model import FraudModel
from apps.fraud_detection.reasons import first_reasons

REASONS_MIN_SCORE = 0.05  # batch scoring words the first reason of scores at or above this
THREADS = 2  # boosters of batch scoring run on the cores (online ones on one)


def score_with_reasons(model: FraudModel, features: pd.DataFrame, min_score: float = REASONS_MIN_SCORE) -> pd.DataFrame:
    """``score``, ``reason_kind``, ``reason`` for each row of ``features`` (kind and reason empty below ``min_score``)."""
    probabilities = model.predict_proba(features)
    explained = np.flatnonzero(probabilities >= min_score)
    kinds = np.full(len(features), "", dtype=object)
    texts = np.full(len(features), "", dtype=object)
    if len(explained):
        rows = features.iloc[explained]
        contributions = model.contributions(rows).to_numpy()
        kinds[explained], texts[explained] = first_reasons(rows[model.features].to_numpy(), model.features, contributions)
    return pd.DataFrame({"score": probabilities, "reason_kind": kinds, "reason": texts})
