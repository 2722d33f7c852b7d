"""Transaction connectors: CSV, CSV.gz and Parquet files, and a table behind any SQLAlchemy URL.

Each reader returns the frame ``apps.fraud_detection.schema.validate_frame`` typed and checked, or
raises: ``TransactionSourceError`` for a source it cannot read (unknown suffix, over the size limit,
no such table), ``TransactionValidationError`` naming the row and field of bad rows. Either way
nothing is returned half-read.

Not here: deduplication, features, writing to the app's tables.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from apps.fraud_detection.schema import validate_frame
from moesaic.errors import UserError

DEFAULT_MAX_BYTES = 512 * 2**20
DEFAULT_MAX_ROWS = 20_000_000
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


class TransactionSourceError(UserError):
    """The source cannot be read as transactions; the message says why and what is accepted."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(FILE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise TransactionSourceError(f"{path.name}: unknown file type; accepted: {', '.join(FILE_SUFFIXES)}",
                                 field="path")


def read_transactions_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                           now: datetime | None = None) -> pd.DataFrame:
    """Read and validate a CSV, CSV.gz or Parquet file of transactions.

    ``max_bytes`` bounds the file's size on disk (compressed size for .gz and Parquet) and is checked
    before anything is read.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise TransactionSourceError(f"{path}: no such file", field="path")
    size = path.stat().st_size
    if size > max_bytes:
        raise TransactionSourceError(f"{path.name} is {size:,} bytes, over the limit of {max_bytes:,} bytes",
                                     field="path")
    if suffix == ".parquet":
        raw = pd.read_parquet(path)
    else:
        # ids and amounts are read as text first so that "12x" is reported, not silently NaN'd by a dtype
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return validate_frame(raw, now=now)


def _source_engine(url: str) -> sa.engine.Engine:
    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
            raise TransactionSourceError(f"url: no SQLite database file at {parsed.database!r}", field="url")
        return sa.create_engine(parsed)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise TransactionSourceError(f"url: not a usable SQLAlchemy URL ({exc})", field="url") from None


def read_transactions_sql(url: str, table: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                          now: datetime | None = None) -> pd.DataFrame:
    """Read and validate a whole table of transactions from a database (any SQLAlchemy URL).

    A URL that does not parse, names a driver that is not installed, a SQLite file that does not exist (it
    would be created) or a database that cannot be reached is a ``TransactionSourceError`` naming ``url``."""
    engine = _source_engine(url)
    try:
        try:
            inspector = sa.inspect(engine)
        except sa.exc.DBAPIError as exc:
            raise TransactionSourceError(f"url: cannot connect to the database ({type(exc.orig).__name__})",
                                         field="url") from None
        if not inspector.has_table(table):
            raise TransactionSourceError(f"table {table!r} not found; tables: {', '.join(inspector.get_table_names())}",
                                         field="table")
        selectable = sa.table(table, *[sa.column(c["name"]) for c in inspector.get_columns(table)])
        with engine.connect() as connection:
            num_rows = connection.execute(sa.select(sa.func.count()).select_from(selectable)).scalar_one()
            if num_rows > max_rows:
                raise TransactionSourceError(f"table {table!r} has {num_rows:,} rows, over the limit of {max_rows:,}",
                                             field="table")
            raw = pd.read_sql(sa.select(selectable), connection)
    finally:
        engine.dispose()
    return validate_frame(raw, now=now)
