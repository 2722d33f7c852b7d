"""The app's jobs: ``import_transactions``, ``score_batch`` and ``retrain``.

Uploads are validated by the route before a job is queued (a bad file is a 4xx at once) and saved as
Parquet under ``<home>/fraud_detection/<tenant>/uploads/<id>.parquet``. Delivery is at least once:

- ``import_transactions`` writes the frame (transactions, labels, feature state) inside
  ``job.complete(...)``: the rows commit with the job's success, once; a second delivery does nothing.
- ``score_batch`` scores the frame against the tenant's stored history and writes
  ``<home>/fraud_detection/<tenant>/scores/<job_id>.csv`` (``TRANSACTION_ID,score,model_version,
  reason_kind,reason``; the first reason only for scores >= ``batch_scoring.REASONS_MIN_SCORE``), rewritten whole by a
  repeated delivery. It stores nothing in the database.
- ``retrain`` (``retrain.retrain``) saves the candidate under ``.../models/<version>`` and registers it;
  it promotes it only when it beats the active model on the latest labelled window.

Not here: HTTP (``routes``), the retraining recipe (``retrain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from apps.fraud_detection.batch_scoring import THREADS, score_with_reasons
from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import FeatureConfig
from apps.fraud_detection.ingest import store_frame
from apps.fraud_detection.monitoring import metrics_of, observe_many
from apps.fraud_detection.state_store import state_guard
from apps.fraud_detection.tables import FraudTransaction
from moesaic.apps import is_safe_id, tenant_folder
from moesaic.jobs import FailJob, JobContext

IMPORT = "import_transactions"
SCORE_BATCH = "score_batch"
RETRAIN = "retrain"


def app_dir(home: Path, tenant_id: str) -> Path:
    return tenant_folder(home, "fraud_detection", tenant_id)


def upload_path(home: Path, tenant_id: str, upload_id: str) -> Path:
    if not is_safe_id(upload_id):
        raise FailJob(f"upload id {upload_id!r} is not valid")
    return app_dir(home, tenant_id) / "uploads" / f"{upload_id}.parquet"


def save_upload(home: Path, tenant_id: str, upload_id: str, frame: pd.DataFrame) -> Path:
    path = upload_path(home, tenant_id, upload_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def scores_path(home: Path, tenant_id: str, job_id: str) -> Path:
    return app_dir(home, tenant_id) / "scores" / f"{job_id}.csv"


def _upload(job: JobContext) -> pd.DataFrame:
    path = upload_path(Path(job.app_context.settings.home), job.tenant_id, str(job.payload.get("upload")))
    if not path.is_file():
        raise FailJob(f"upload {job.payload.get('upload')!r} not found")
    return pd.read_parquet(path)


def import_transactions_job(job: JobContext) -> None:
    frame = _upload(job)
    job.progress(0, len(frame))
    result: dict[str, Any] = {}  # filled before the commit that records it
    with state_guard(job.app_context.db), job.complete(result) as session:
        result.update(store_frame(session, job.tenant_id, frame, source="import").as_dict())


def stored_history(session: Any, tenant_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """The tenant's stored transactions (between ``start`` and ``end`` when given) as a validated-style frame,
    plus ``LABEL_SOURCE`` (import, api, investigator; empty when unlabelled)."""
    query = select(FraudTransaction.transaction_id, FraudTransaction.tx_datetime, FraudTransaction.customer_id,
                   FraudTransaction.terminal_id, FraudTransaction.amount_cents, FraudTransaction.label,
                   FraudTransaction.label_source).where(FraudTransaction.tenant_id == tenant_id)
    if start is not None:
        query = query.where(FraudTransaction.tx_datetime >= start)
    if end is not None:
        query = query.where(FraudTransaction.tx_datetime <= end)
    rows = session.execute(query).all()
    return pd.DataFrame({
        "TRANSACTION_ID": np.array([r[0] for r in rows], dtype="int64"),
        "TX_DATETIME": pd.to_datetime([r[1] for r in rows]).astype("datetime64[ns]"),
        "CUSTOMER_ID": np.array([r[2] for r in rows], dtype="int64"),
        "TERMINAL_ID": np.array([r[3] for r in rows], dtype="int64"),
        "TX_AMOUNT": np.array([r[4] for r in rows], dtype="float64") / 100.0,
        "TX_FRAUD": np.array([r[5] for r in rows], dtype="int8"),
        "LABEL_SOURCE": np.array([r[6] for r in rows], dtype=object),
    })


def score_frame(ctx: Any, tenant_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Scores of a frame's rows with features over the stored history (within the horizon) plus the frame."""
    model = ctx.services["model_cache"].current(tenant_id)
    config = FeatureConfig(label_delay_days=model.label_delay_days)
    start = frame["TX_DATETIME"].min() - pd.Timedelta(seconds=config.horizon_seconds)
    with ctx.db.session() as session:
        history = stored_history(session, tenant_id, start.to_pydatetime(), frame["TX_DATETIME"].max().to_pydatetime())
    history = history[~history["TRANSACTION_ID"].isin(frame["TRANSACTION_ID"])]
    history = history.drop(columns=["LABEL_SOURCE"])
    marked = pd.concat([history.assign(_scored=False), frame[history.columns].assign(_scored=True)], ignore_index=True)
    marked = sort_history(marked.drop_duplicates("TRANSACTION_ID", keep="last"))
    features = compute_features(marked, config)[marked["_scored"].to_numpy()]
    scored = marked[marked["_scored"]]
    scored_frame = score_with_reasons(model.batch_copy(THREADS), features)  # TreeSHAP only for scores worth a look
    observe_many(metrics_of(ctx).scores.labels("batch"), scored_frame["score"].to_numpy())
    return pd.DataFrame({"TRANSACTION_ID": scored["TRANSACTION_ID"].to_numpy(), "score": scored_frame["score"].to_numpy(),
                         "model_version": model.version, "reason_kind": scored_frame["reason_kind"].to_numpy(),
                         "reason": scored_frame["reason"].to_numpy()})


def score_batch_job(job: JobContext) -> dict[str, Any]:
    frame = _upload(job)
    job.progress(0, len(frame))
    scores = score_frame(job.app_context, job.tenant_id, frame)
    path = scores_path(Path(job.app_context.settings.home), job.tenant_id, job.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.part")
    scores.to_csv(partial, index=False)
    partial.replace(path)
    job.progress(len(frame), len(frame))
    return {"num_scored": len(scores), "model_version": str(scores["model_version"].iloc[0]) if len(scores) else "",
            "num_over_0_5": int((scores["score"] >= 0.5).sum())}


def retrain_job(job: JobContext) -> dict[str, Any]:
    from apps.fraud_detection.retrain import retrain

    return retrain(job.app_context, job.tenant_id, job.payload, by=f"job:{job.job_id}")
