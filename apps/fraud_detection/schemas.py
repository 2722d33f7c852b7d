"""Request and response models of the fraud app's routes (the OpenAPI contract).

Transaction fields arrive loosely typed (``Any``) on purpose: ``schema.Transaction`` checks them, so
every problem of every row is reported together as a 400 naming the row's index and the field, in
one shape for the API, files and SQL tables.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apps.fraud_detection.ingest import MAX_API_ROWS
from moesaic.apps import NotBoolean


class TransactionFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TRANSACTION_ID: Any = Field(default=None, description="whole number >= 0, unique per tenant")
    TX_DATETIME: Any = Field(default=None, description="ISO 8601; naive means UTC; not in the future")
    CUSTOMER_ID: Any = Field(default=None, description="whole number >= 0 (the card)")
    TERMINAL_ID: Any = Field(default=None, description="whole number >= 0")
    TX_AMOUNT: Any = Field(default=None, description="amount >= 0")
    TX_FRAUD: Any = Field(default=None, description="optional known label: 0 or 1")

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k in type(self).model_fields}


class TransactionsIn(TransactionFields):
    """One transaction (its fields at the top level) or a batch: ``{"transactions": [...]}`` (at most
    10,000). A batch is atomic: any bad row stores nothing."""

    transactions: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_API_ROWS)


class TransactionsStored(BaseModel):
    num_received: int
    num_stored: int
    num_duplicates: int
    num_labels: int


class RowProblem(BaseModel):
    index: int
    field: str
    message: str


class BadRows(BaseModel):
    """A 400 of ``POST /transactions``: OpenAI's error shape plus every problem of every row."""

    error: dict[str, Any]
    errors: list[RowProblem] = Field(default_factory=list, description="empty when the batch itself is at fault")


class ReasonOut(BaseModel):
    kind: str
    feature: str
    text: str
    contribution: float


class ScoreOut(BaseModel):
    score_id: str
    transaction_id: int
    score: float = Field(description="calibrated probability of fraud")
    model_version: str
    reasons: list[ReasonOut]
    features: dict[str, float | None]
    stored_transaction: bool = Field(description="false when the transaction was already stored (scored again)")
    case_id: str | None = Field(default=None, description="the case opened by a threshold alert, if any")


class JobAccepted(BaseModel):
    job_id: str
    state: str
    num_rows: int | None = None


class SqlSource(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="SQLAlchemy URL of the source database")
    table: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")


class AlertSettingsIn(BaseModel):
    mode: Literal["budget", "threshold"] | None = None
    daily_budget: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=100_000)  # true is no number
    threshold: Annotated[float | None, NotBoolean] = Field(default=None, gt=0, le=1)


class AlertSettingsOut(BaseModel):
    mode: str
    daily_budget: int
    threshold: float


class AlertRunIn(BaseModel):
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD (transaction dates)")
    k: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=100_000, description="overrides the daily budget for this run")


class CaseOut(BaseModel):
    id: str
    transaction_id: int
    customer_id: int
    terminal_id: int
    day: str
    score: float
    model_version: str
    alert_rule: str
    status: str
    assignee: str | None
    narrative: str
    narrative_source: str
    created_at: str
    updated_at: str


class AlertRunOut(BaseModel):
    day: str
    opened: list[CaseOut]


class CaseList(BaseModel):
    data: list[CaseOut]
    total: int


class NoteOut(BaseModel):
    id: str
    author: str
    text: str
    created_at: str


class EventOut(BaseModel):
    actor: str
    action: str
    detail: dict[str, Any]
    created_at: str


class HistoryPoint(BaseModel):
    TRANSACTION_ID: int
    TX_DATETIME: str
    TX_AMOUNT: float
    label: int


class CaseDetail(BaseModel):
    case: CaseOut
    transaction: dict[str, Any] | None
    reasons: list[ReasonOut]
    features: dict[str, float | None]
    notes: list[NoteOut]
    events: list[EventOut]
    customer_history: list[HistoryPoint]
    terminal_history: list[HistoryPoint]


class AssignIn(BaseModel):
    assignee: str | None = Field(min_length=1, max_length=200, description="null unassigns")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class StatusIn(BaseModel):
    status: Literal["open", "in_review"]


class LabelIn(BaseModel):
    label: Literal["fraud", "legitimate"]


class RetrainIn(BaseModel):
    window_days: Annotated[int, NotBoolean] = Field(default=7, ge=1, le=60, description="the latest labelled window both models are compared on")
    num_rounds: Annotated[int | None, NotBoolean] = Field(default=None, ge=5, le=2000)
    calibration_days: Annotated[int | None, NotBoolean] = Field(default=None, ge=1, le=60)


class DayAlerts(BaseModel):
    day: str
    alerts: int
    budget: int | None
    labelled: int
    frauds: int


class Monitoring(BaseModel):
    model_version: str
    num_scores: int
    score_histogram: list[dict[str, float]]
    alerts_per_day: list[DayAlerts]
    labelled_precision: float | None
    num_labelled_cases: int
    drift_days: int
    drift_rows: int
    drift: dict[str, float]
