"""The transaction schema: one pydantic model for a single transaction, and a vectorised check of a frame.

``Transaction`` is the rule book (the API validates one transaction with it). ``validate_frame`` checks
a whole table with pandas in one pass, then asks ``Transaction`` to word the error of every flagged
row, so a bad row is reported with its row number (1-based, header not counted) and the field.
Nothing is returned when any row is bad: a load is all or nothing.

Not here: reading files or databases (``connectors.transactions``), deduplication across sources
(``history.py``), features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from moesaic.errors import UserError

REQUIRED_COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
LABEL_COLUMN = "TX_FRAUD"
SCENARIO_COLUMN = "TX_FRAUD_SCENARIO"  # evaluation only; never a model input
ID_COLUMNS = ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID")
MAX_ID = 2**53  # ids must survive the float64 pass of the vectorised check exactly


class Transaction(BaseModel):
    """One card transaction as it crosses a trust boundary (file row, SQL row, API body)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    TRANSACTION_ID: int = Field(ge=0, lt=MAX_ID)
    TX_DATETIME: datetime
    CUSTOMER_ID: int = Field(ge=0, lt=MAX_ID)
    TERMINAL_ID: int = Field(ge=0, lt=MAX_ID)
    TX_AMOUNT: float = Field(ge=0)
    TX_FRAUD: int | None = Field(default=None, ge=0, le=1)
    now: datetime | None = Field(default=None, exclude=True)  # "the future" starts here (tests pin it)

    @field_validator("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"must be a non-negative whole number (got {value!r})")
            return int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"must be a non-negative whole number (got {value!r})")
        return value

    @field_validator("TX_AMOUNT")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {value!r})")
        return value

    @field_validator("TX_DATETIME")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        """Aware datetimes become naive UTC, as the source data is."""
        return value if value.tzinfo is None else value.astimezone(timezone.utc).replace(tzinfo=None)

    @model_validator(mode="after")
    def _not_in_future(self) -> "Transaction":
        now = self.now or datetime.now()
        if self.TX_DATETIME > now:
            raise ValueError(f"TX_DATETIME {self.TX_DATETIME} is in the future (now {now:%Y-%m-%d %H:%M:%S})")
        return self


@dataclass(frozen=True)
class RowError:
    """One problem of one row: ``row`` is 1-based over data rows (a CSV's line number is ``row + 1``)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field}: {self.message}"


class TransactionValidationError(UserError):
    """The input has bad rows or lacks a column; ``errors`` lists them (at most ``max_errors``)."""

    def __init__(self, errors: list[RowError], *, num_bad_rows: int) -> None:
        self.errors = errors
        self.num_bad_rows = num_bad_rows
        shown = "; ".join(str(e) for e in errors[:10])
        more = f" (and {num_bad_rows - len(errors[:10])} more bad rows)" if num_bad_rows > 10 else ""
        super().__init__(f"{num_bad_rows} bad transaction row(s), nothing loaded: {shown}{more}",
                         field=errors[0].field if errors else None)


def field_of(error: Any) -> str:
    loc = error.get("loc") or ()
    return str(loc[0]) if loc else "TX_DATETIME"  # the only model-level rule is the future-date check


def row_errors(row: int, record: dict[str, Any], now: datetime) -> list[RowError]:
    """Word the problems of one record with ``Transaction`` (empty when the record is valid)."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) and k == LABEL_COLUMN else v) for k, v in record.items()}
    try:
        Transaction.model_validate({**clean, "now": now})
    except ValidationError as exc:
        return [RowError(row, field_of(e), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    return []


def _bad_ids(raw: pd.Series) -> tuple[np.ndarray, pd.Series]:
    numbers = pd.to_numeric(raw, errors="coerce")
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    bad = np.isnan(values) | (values < 0) | (values >= MAX_ID) | (values != np.floor(values))
    return bad, numbers


def validate_frame(frame: pd.DataFrame, *, now: datetime | None = None, max_errors: int = 20) -> pd.DataFrame:
    """Check every row and return the typed frame, or raise ``TransactionValidationError``.

    Returned columns: the five required ones (ids int64, TX_DATETIME datetime64[ns], TX_AMOUNT float64),
    ``TX_FRAUD`` (int8, -1 where unknown) and ``TX_FRAUD_SCENARIO`` when the input has it.
    """
    now = now or datetime.now()
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise TransactionValidationError(
            [RowError(0, c, f"column {c} is missing (required: {', '.join(REQUIRED_COLUMNS)})") for c in missing],
            num_bad_rows=0)
    bad = np.zeros(len(frame), dtype=bool)
    out: dict[str, Any] = {}
    for column in ID_COLUMNS:
        bad_id, numbers = _bad_ids(frame[column])
        bad |= bad_id
        out[column] = numbers.fillna(0).to_numpy().astype("int64")
    when = pd.to_datetime(frame["TX_DATETIME"], errors="coerce", format="ISO8601")
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert(None)
    bad |= when.isna().to_numpy() | (when > pd.Timestamp(now)).to_numpy()
    out["TX_DATETIME"] = when.astype("datetime64[ns]").to_numpy()
    amount = pd.to_numeric(frame["TX_AMOUNT"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad |= ~np.isfinite(amount) | (amount < 0)
    out["TX_AMOUNT"] = amount
    if LABEL_COLUMN in frame.columns:
        label = pd.to_numeric(frame[LABEL_COLUMN], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad |= ~(np.isnan(label) | (label == 0) | (label == 1))
        out[LABEL_COLUMN] = np.where(np.isnan(label), -1, label).astype("int8")
    else:
        out[LABEL_COLUMN] = np.full(len(frame), -1, dtype="int8")
    if SCENARIO_COLUMN in frame.columns:
        out[SCENARIO_COLUMN] = pd.to_numeric(frame[SCENARIO_COLUMN], errors="coerce").fillna(0).astype("int8").to_numpy()
    bad_rows = np.flatnonzero(bad)
    if len(bad_rows):
        errors: list[RowError] = []
        columns = [c for c in (*REQUIRED_COLUMNS, LABEL_COLUMN) if c in frame.columns]
        for position in bad_rows[:max_errors]:
            record = frame.iloc[int(position)][columns].to_dict()
            found = row_errors(int(position) + 1, record, now)
            assert found, f"row {position + 1} failed the vectorised check but Transaction accepts it: {record}"
            errors.extend(found)
        raise TransactionValidationError(errors, num_bad_rows=len(bad_rows))
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
