"""The fraud app's HTTP API, mounted at ``/v1/apps/fraud_detection`` (the gate owns authorisation).

Transactions: ``POST /transactions`` (one, or a batch ``{"transactions": [...]}``: atomic, a batch with
any bad row stores nothing and answers 400 with every bad row's index and field), ``POST
/transactions:import`` (a CSV, CSV.gz or Parquet file) and ``POST /transactions:import-sql`` (a table
behind a SQLAlchemy URL; admins only, as the server opens the URL): validated at once (4xx naming the
row and field, 413 over the size limit), stored by the job ``import_transactions``.
Scoring: ``POST /score`` (one transaction: features from stored state, score, reasons, stored),
``POST /score:batch`` / ``POST /score:batch-sql`` (the job ``score_batch``) and
``GET /score:batch/{job_id}/results`` (the CSV).
Alerts and cases: ``GET|PUT /alerts/settings``, ``POST /alerts:run``, ``GET /cases``, ``GET /cases/{id}``,
``POST /cases/{id}/assign|notes|status|label``; each case write is in the case's trail and the audit log.
Models: ``POST /models:retrain`` (job); listing, promotion and rollback are the platform's routes
(``GET /v1/apps/fraud_detection/models``, ``POST .../models/scorer/promote|rollback``); scoring sees a
change within ``ModelCache.ttl_s``.
Monitoring: ``GET /monitoring`` (score distribution, alerts per day against budget, labelled precision, PSI drift).
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from apps.fraud_detection import cases as case_ops
from apps.fraud_detection.ingest import store_frame, validate_records
from apps.fraud_detection.jobs import IMPORT, RETRAIN, SCORE_BATCH, app_dir, save_upload, scores_path
from apps.fraud_detection.monitoring import SCORE_BUCKETS, drift, metrics_of
from apps.fraud_detection.schema import RowError, Transaction, field_of
from apps.fraud_detection.schemas import (
    AlertRunIn, AlertRunOut, BadRows, AlertSettingsIn, AlertSettingsOut, AssignIn, CaseDetail, CaseList, CaseOut, DayAlerts,
    EventOut, HistoryPoint, JobAccepted, LabelIn, Monitoring, NoteIn, NoteOut, ReasonOut,
    RetrainIn, ScoreOut, SqlSource, StatusIn, TransactionFields, TransactionsIn, TransactionsStored,
)
from apps.fraud_detection.scoring import APP, score_transaction
from apps.fraud_detection.state_store import with_state
from apps.fraud_detection.tables import FraudCase, FraudScore
from connectors.transactions import DEFAULT_MAX_BYTES, read_transactions_file, read_transactions_sql
from moesaic.access import access, record_in, record_request_in
from moesaic.apps import AppContext, AppContextDep, TenantIdDep, error_responses
from moesaic.errors import Conflict, NotFound, PayloadTooLarge, UpstreamError, UserError

router = APIRouter(tags=[APP])
MAX_BYTES_ENV = "MOESAIC_FRAUD_MAX_UPLOAD_BYTES"
CHUNK_BYTES = 1 << 20
MAX_OFFSET = 1_000_000_000  # past any queue; keeps the number inside a database integer


class InvalidTransaction(UserError):
    """A transaction the schema lets through (its fields are loosely typed) that ``schema.Transaction`` refuses."""


def max_upload_bytes() -> int:
    return int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))


def _principal(request: Request) -> Any:
    return getattr(request.state, "principal", None)


def _actor(request: Request) -> str:
    principal = _principal(request)
    return str(principal.label) if principal is not None else "unknown"


def _audit(session: Any, request: Request, action: str, target: str, **detail: Any) -> None:
    """The app's own audit row (``fraud_detection.<action>`` with its detail), in the change's transaction."""
    record_in(session, _principal(request), f"fraud_detection.{action}", app=APP, target=target, status=200, detail=detail)


def _problems(errors: list[RowError]) -> JSONResponse:
    shown = "; ".join(f"transactions[{e.row}].{e.field}: {e.message}" for e in errors[:20])
    more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
    rows = len({e.row for e in errors})
    body = {"error": {"message": f"{rows} bad transaction row(s), nothing stored: {shown}{more}",
                      "type": "invalid_request_error", "param": f"transactions[{errors[0].row}].{errors[0].field}",
                      "code": "invalid_transactions"},
            "errors": [{"index": e.row, "field": e.field, "message": e.message} for e in errors]}
    return JSONResponse(body, status_code=400)


# ---- transactions ------------------------------------------------------------------------------------

@router.post("/transactions", status_code=201, response_model=TransactionsStored,
             responses={400: {"model": BadRows, "description": "bad rows: every bad row's index and field under 'errors'"}})
def post_transactions(body: TransactionsIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> Response:
    """Store one transaction or a batch (atomic: any bad row stores nothing; 400 lists every bad row).

    A TRANSACTION_ID already stored is skipped and counted in ``num_duplicates`` (a retry is harmless)."""
    records = body.transactions if body.transactions is not None else [body.record()]
    if not records:
        raise InvalidTransaction("transactions is empty", field="transactions")
    frame, errors = validate_records(records)
    if errors:
        return _problems(errors)
    result = with_state(ctx.db, lambda session: store_frame(session, tenant_id, frame, source="api"))
    return JSONResponse(result.as_dict(), status_code=201)


async def _save_upload_file(ctx: AppContext, tenant_id: str, file: UploadFile) -> Path:
    """The upload on disk (streamed, refused as soon as it passes the size limit: 413 naming ``file``)."""
    name = (file.filename or "").lower()
    suffix = next((s for s in (".csv.gz", ".csv", ".parquet") if name.endswith(s)), None)
    if suffix is None:
        raise UserError(f"file {file.filename!r}: unknown type; accepted: .csv, .csv.gz, .parquet", field="file")
    limit = max_upload_bytes()
    folder = app_dir(Path(ctx.settings.home), tenant_id) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}{suffix}"
    size = 0
    try:
        with open(path, "wb") as out:
            while chunk := await file.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"file {file.filename!r} is over the limit of {limit:,} bytes "
                                          f"({MAX_BYTES_ENV})", field="file")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _validated_file(path: Path) -> Any:
    try:
        return read_transactions_file(path, max_bytes=max_upload_bytes())
    finally:
        path.unlink(missing_ok=True)


def _queue(ctx: AppContext, tenant_id: str, kind: str, frame: Any) -> JobAccepted:
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    upload_id = secrets.token_hex(16)
    save_upload(Path(ctx.settings.home), tenant_id, upload_id, frame)
    info = ctx.jobs.enqueue(tenant_id, APP, kind, {"upload": upload_id})
    return JobAccepted(job_id=info.id, state=info.state, num_rows=len(frame))


async def _file_job(ctx: AppContext, tenant_id: str, kind: str, file: UploadFile) -> JobAccepted:
    """The job ``kind`` over an uploaded file, validated first (4xx naming row and field)."""
    return _queue(ctx, tenant_id, kind, _validated_file(await _save_upload_file(ctx, tenant_id, file)))


def _sql_job(ctx: AppContext, tenant_id: str, kind: str, source: SqlSource) -> JobAccepted:
    """The job ``kind`` over a SQL table, validated first."""
    return _queue(ctx, tenant_id, kind, read_transactions_sql(source.url, source.table))


@router.post("/transactions:import", status_code=202)
async def import_transactions(ctx: AppContextDep, tenant_id: TenantIdDep,
                              file: Annotated[UploadFile, File(description="CSV, CSV.gz or Parquet")]) -> JobAccepted:
    """Validate a file of transactions now (4xx naming row and field), store it in the job ``import_transactions``."""
    return await _file_job(ctx, tenant_id, IMPORT, file)


@router.post("/transactions:import-sql", status_code=202, openapi_extra=access(role="admin"))
def import_transactions_sql(body: SqlSource, ctx: AppContextDep, tenant_id: TenantIdDep) -> JobAccepted:
    """Validate a SQL table of transactions now, store it in the job ``import_transactions`` (admins only)."""
    return _sql_job(ctx, tenant_id, IMPORT, body)


# ---- scoring -----------------------------------------------------------------------------------------

@router.post("/score")
def score(body: TransactionFields, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> ScoreOut:
    """Score one transaction: store it (when new), update the feature state, score with the tenant's
    active model, store the score; a threshold alert opens a case."""
    started = time.perf_counter()
    record_in = {k: v for k, v in body.record().items() if v is not None}
    try:
        tx = Transaction.model_validate({**record_in, "now": datetime.now()}).model_dump()
    except ValidationError as exc:
        problems = [RowError(0, field_of(e), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
        raise InvalidTransaction("; ".join(f"{p.field}: {p.message}" for p in problems), field=problems[0].field) from None
    model = ctx.services["model_cache"].current(tenant_id)

    def work(session: Any) -> tuple[Any, Any]:
        result = score_transaction(session, tenant_id, tx, model)
        case = case_ops.maybe_open_on_score(session, tenant_id, result.score_id, result.score, ctx.model)
        record_request_in(session, request)  # the gate's audit row, committed with the score (one commit)
        return result, (case.id, case.alert_rule) if case is not None else None

    result, opened = with_state(ctx.db, work)
    case_id = opened[0] if opened else None
    if opened:
        metrics_of(ctx).alerts.labels(opened[1].split(":")[0]).inc()
    metrics = metrics_of(ctx)
    metrics.scores.labels("api").observe(result.score)
    metrics.latency.observe(time.perf_counter() - started)
    return ScoreOut(score_id=result.score_id, transaction_id=result.transaction_id, score=result.score,
                    model_version=result.model_version, reasons=[ReasonOut(**r.as_dict()) for r in result.reasons],  # type: ignore[arg-type]
                    features={k: (None if np.isnan(v) else v) for k, v in result.features.items()},
                    stored_transaction=result.stored_transaction, case_id=case_id)


@router.post("/score:batch", status_code=202)
async def score_batch(ctx: AppContextDep, tenant_id: TenantIdDep,
                      file: Annotated[UploadFile, File(description="CSV, CSV.gz or Parquet")]) -> JobAccepted:
    """Score a file in the job ``score_batch``; the CSV is at ``GET /score:batch/{job_id}/results``."""
    return await _file_job(ctx, tenant_id, SCORE_BATCH, file)


@router.post("/score:batch-sql", status_code=202, openapi_extra=access(role="admin"))
def score_batch_sql(body: SqlSource, ctx: AppContextDep, tenant_id: TenantIdDep) -> JobAccepted:
    """Score a SQL table in the job ``score_batch`` (admins only)."""
    return _sql_job(ctx, tenant_id, SCORE_BATCH, body)


@router.get("/score:batch/{job_id}/results", response_class=Response, openapi_extra=access(job="path:job_id"),
            responses={200: {"content": {"text/csv": {}}, "description": "TRANSACTION_ID,score,model_version,reason_kind,reason"},
                       **error_responses(409)})
def score_batch_results(job_id: str, ctx: AppContextDep, tenant_id: TenantIdDep) -> Response:
    info = ctx.jobs.get(tenant_id, job_id)
    if info.app != APP or info.kind != SCORE_BATCH:
        raise NotFound(f"job {job_id!r} is not a batch scoring job of this app", field="job_id")
    if info.state != "succeeded":
        raise Conflict(f"job {job_id} is {info.state}; the scores are ready when it has succeeded", field="job_id")
    path = scores_path(Path(ctx.settings.home), tenant_id, job_id)
    return Response(path.read_bytes(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="scores-{job_id}.csv"'})


# ---- alerts and cases --------------------------------------------------------------------------------

def _settings_out(row: Any) -> AlertSettingsOut:
    return AlertSettingsOut(mode=row.mode, daily_budget=row.daily_budget, threshold=row.threshold)


@router.get("/alerts/settings")
def get_alert_settings(ctx: AppContextDep, tenant_id: TenantIdDep) -> AlertSettingsOut:
    with ctx.db.session() as session:
        return _settings_out(case_ops.get_settings(session, tenant_id))


@router.put("/alerts/settings", openapi_extra=access(role="admin"))
def put_alert_settings(body: AlertSettingsIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> AlertSettingsOut:
    """Daily budget (top-k cards per day) or threshold; admins only."""
    with ctx.db.session() as session:
        return _settings_out(case_ops.update_settings(session, tenant_id, body.mode, body.daily_budget, body.threshold))


def _case_out(case: FraudCase) -> CaseOut:
    return CaseOut(id=case.id, transaction_id=int(case.transaction_id), customer_id=int(case.customer_id),
                   terminal_id=int(case.terminal_id), day=case.day, score=case.score, model_version=case.model_version,
                   alert_rule=case.alert_rule, status=case.status, assignee=case.assignee, narrative=case.narrative,
                   narrative_source=case.narrative_source, created_at=case.created_at.isoformat(),
                   updated_at=case.updated_at.isoformat())


@router.post("/alerts:run")
def run_alerts(body: AlertRunIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> AlertRunOut:
    """Budget alerts for one day: cases for the top-k cards by score not yet alerted (idempotent per day)."""
    with ctx.db.session() as session:
        out = [_case_out(c) for c in case_ops.run_budget(session, tenant_id, body.day, ctx.model, body.k)]
        if out:
            _audit(session, request, "alerts_run", body.day, opened=[c.id for c in out])
    if out:
        metrics_of(ctx).alerts.labels("budget").inc(len(out))
    return AlertRunOut(day=body.day, opened=out)


@router.get("/cases", responses=error_responses(400))
def get_cases(ctx: AppContextDep, tenant_id: TenantIdDep,
              status: Annotated[str | None, Query()] = None, assignee: Annotated[str | None, Query()] = None,
              day: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> CaseList:
    """The case queue, highest score first; filters by status, assignee and day."""
    with ctx.db.session() as session:
        rows, total = case_ops.list_cases(session, tenant_id, status=status, assignee=assignee, day=day,
                                          limit=limit, offset=offset)
        return CaseList(data=[_case_out(c) for c in rows], total=total)


def _detail(ctx: AppContext, tenant_id: str, case_id: str) -> CaseDetail:
    with ctx.db.session() as session:
        d = case_ops.case_detail(session, tenant_id, case_id)
        tx, score_row = d["transaction"], d["score"]
        return CaseDetail(
            case=_case_out(d["case"]),
            transaction=None if tx is None else {
                "TRANSACTION_ID": int(tx.transaction_id), "TX_DATETIME": tx.tx_datetime.isoformat(),
                "CUSTOMER_ID": int(tx.customer_id), "TERMINAL_ID": int(tx.terminal_id),
                "TX_AMOUNT": tx.amount_cents / 100.0, "label": int(tx.label), "label_source": tx.label_source},
            reasons=[ReasonOut(**r) for r in (score_row.reasons if score_row else [])],
            features=dict(score_row.features) if score_row else {},
            notes=[NoteOut(id=n.id, author=n.author, text=n.text, created_at=n.created_at.isoformat()) for n in d["notes"]],
            events=[EventOut(actor=e.actor, action=e.action, detail=e.detail, created_at=e.created_at.isoformat())
                    for e in d["events"]],
            customer_history=[HistoryPoint(**p) for p in d["customer_history"]],
            terminal_history=[HistoryPoint(**p) for p in d["terminal_history"]])


@router.get("/cases/{case_id}", responses=error_responses(404))
def get_case(case_id: str, ctx: AppContextDep, tenant_id: TenantIdDep) -> CaseDetail:
    """A case: transaction, score, reasons, narrative, notes, trail, recent customer and terminal history."""
    return _detail(ctx, tenant_id, case_id)


@router.post("/cases/{case_id}/assign", responses=error_responses(404))
def assign_case(case_id: str, body: AssignIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> CaseOut:
    with ctx.db.session() as session:
        _audit(session, request, "case_assign", case_id, assignee=body.assignee)
        return _case_out(case_ops.assign(session, tenant_id, case_id, body.assignee, _actor(request)))


@router.post("/cases/{case_id}/notes", status_code=201, responses=error_responses(404))
def add_case_note(case_id: str, body: NoteIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> NoteOut:
    with ctx.db.session() as session:
        note = case_ops.add_note(session, tenant_id, case_id, body.text, _actor(request))
        _audit(session, request, "case_note", case_id, note_id=note.id)
        return NoteOut(id=note.id, author=note.author, text=note.text, created_at=note.created_at.isoformat())


@router.post("/cases/{case_id}/status", responses=error_responses(404))
def set_case_status(case_id: str, body: StatusIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> CaseOut:
    with ctx.db.session() as session:
        _audit(session, request, "case_status", case_id, status=body.status)
        return _case_out(case_ops.set_status(session, tenant_id, case_id, body.status, _actor(request)))


def labelled_precision(ctx: AppContext, tenant_id: str) -> tuple[float | None, int]:
    with ctx.db.session() as session:
        counts = dict(session.execute(select(FraudCase.status, func.count()).where(
            FraudCase.tenant_id == tenant_id, FraudCase.status.in_(("fraud", "legitimate"))).group_by(FraudCase.status)).all())
    labelled = int(counts.get("fraud", 0)) + int(counts.get("legitimate", 0))
    return (int(counts.get("fraud", 0)) / labelled if labelled else None), labelled


@router.post("/cases/{case_id}/label", responses=error_responses(404, 409))
def label_case(case_id: str, body: LabelIn, request: Request, ctx: AppContextDep, tenant_id: TenantIdDep) -> CaseOut:
    """An investigator's label: stored on the transaction, closes the case, feeds features and retraining."""
    model = ctx.services["model_cache"].current(tenant_id)
    from apps.fraud_detection.features.definition import FeatureConfig

    def work(session: Any) -> CaseOut:
        out = _case_out(case_ops.label_case(session, tenant_id, case_id, body.label, _actor(request),
                                            FeatureConfig(label_delay_days=model.label_delay_days)))
        _audit(session, request, "case_label", case_id, label=body.label, transaction_id=out.transaction_id)
        return out

    out = with_state(ctx.db, work)
    metrics = metrics_of(ctx)
    metrics.labels.labels(body.label).inc()
    precision, _ = labelled_precision(ctx, tenant_id)
    if precision is not None:
        metrics.precision.labels(tenant_id).set(precision)
    return out


# ---- models ------------------------------------------------------------------------------------------

@router.post("/models:retrain", status_code=202, openapi_extra=access(role="admin"))
def retrain_model(body: RetrainIn, ctx: AppContextDep, tenant_id: TenantIdDep) -> JobAccepted:
    """Retrain on stored labelled transactions in the job ``retrain``; promoted only when it beats the
    active model (average precision) on the latest labelled window."""
    if ctx.jobs is None:
        raise UpstreamError("this process has no job queue")
    payload = {k: v for k, v in body.model_dump().items() if v is not None}
    info = ctx.jobs.enqueue(tenant_id, APP, RETRAIN, payload)
    return JobAccepted(job_id=info.id, state=info.state)


# ---- monitoring --------------------------------------------------------------------------------------

@router.get("/monitoring")
def monitoring(ctx: AppContextDep, tenant_id: TenantIdDep,
               days: Annotated[int, Query(ge=1, le=90, description="drift: scores of the last N days")] = 7,
               max_rows: Annotated[int, Query(ge=100, le=200_000)] = 20_000) -> Monitoring:
    """Score distribution, alerts per day against the budget, labelled precision, PSI drift per feature."""
    model = ctx.services["model_cache"].current(tenant_id)
    with ctx.db.session() as session:
        settings = case_ops.get_settings(session, tenant_id)
        edges = (0.0, *SCORE_BUCKETS)
        histogram = []
        for low, high in zip(edges[:-1], edges[1:]):
            n = session.scalar(select(func.count()).where(FraudScore.tenant_id == tenant_id, FraudScore.score >= low,
                                                          FraudScore.score < (high if high < 1 else 1.0001)))
            histogram.append({"low": low, "high": high, "count": float(n or 0)})
        num_scores = int(sum(h["count"] for h in histogram))
        per_day = session.execute(select(FraudCase.day, func.count(), FraudCase.status).where(
            FraudCase.tenant_id == tenant_id).group_by(FraudCase.day, FraudCase.status)).all()
        latest = session.scalar(select(func.max(FraudScore.tx_datetime)).where(FraudScore.tenant_id == tenant_id))
        rows: list[dict[str, Any]] = []
        if latest is not None:
            since = latest - timedelta(days=days)
            rows = [r for (r,) in session.execute(select(FraudScore.features).where(
                FraudScore.tenant_id == tenant_id, FraudScore.tx_datetime > since)
                .order_by(FraudScore.tx_datetime.desc()).limit(max_rows)).all()]
    days_seen: dict[str, dict[str, int]] = {}
    for day, count, status in per_day:
        entry = days_seen.setdefault(day, {"alerts": 0, "labelled": 0, "frauds": 0})
        entry["alerts"] += int(count)
        entry["labelled"] += int(count) if status in ("fraud", "legitimate") else 0
        entry["frauds"] += int(count) if status == "fraud" else 0
    precision, num_labelled = labelled_precision(ctx, tenant_id)
    bins = model.model.info.get("feature_bins") or {}
    return Monitoring(model_version=model.version, num_scores=num_scores, score_histogram=histogram,
                      alerts_per_day=[DayAlerts(day=d, budget=settings.daily_budget if settings.mode == "budget" else None,
                                                **v) for d, v in sorted(days_seen.items())],
                      labelled_precision=precision, num_labelled_cases=num_labelled, drift_days=days, drift_rows=len(rows),
                      drift=drift(bins, rows) if rows and bins else {})
