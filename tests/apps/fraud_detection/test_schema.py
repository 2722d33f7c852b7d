"""Bad transactions are refused with the row and the field named, and nothing is returned half-read."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from apps.fraud_detection.schema import Transaction, TransactionValidationError, row_errors, validate_frame
from connectors.transactions import TransactionSourceError, read_transactions_file, read_transactions_sql

NOW = datetime(2018, 9, 1)
GOOD = ("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n"
        "0,2018-04-01 00:00:31,596,3156,57.16,0\n"
        "1,2018-04-01 00:02:10,4961,3412,81.51,1\n")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_good_csv_gz_and_parquet_read_the_same(tmp_path: Path) -> None:
    csv = read_transactions_file(write(tmp_path / "t.csv", GOOD), now=NOW)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write(GOOD)
    gz = read_transactions_file(tmp_path / "t.csv.gz", now=NOW)
    csv.to_parquet(tmp_path / "t.parquet")
    parquet = read_transactions_file(tmp_path / "t.parquet", now=NOW)
    assert csv.equals(gz) and csv.equals(parquet)
    assert csv["TX_FRAUD"].tolist() == [0, 1] and str(csv["TX_DATETIME"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(("line", "field", "words"), [
    ("2,2018-04-01 00:09:29,4128,8737,-5.00,0", "TX_AMOUNT", "greater than or equal to 0"),
    ("2x,2018-04-01 00:09:29,4128,8737,5.00,0", "TRANSACTION_ID", "whole number"),
    ("2,2018-04-01 00:09:29,41.5,8737,5.00,0", "CUSTOMER_ID", "whole number"),
    ("2,2030-01-01 00:00:00,4128,8737,5.00,0", "TX_DATETIME", "in the future"),
    ("2,yesterday,4128,8737,5.00,0", "TX_DATETIME", "datetime"),
    ("2,2018-04-01 00:09:29,4128,,5.00,0", "TERMINAL_ID", ""),
    ("2,2018-04-01 00:09:29,4128,8737,5.00,2", "TX_FRAUD", "less than or equal to 1"),
])
def test_a_bad_row_is_reported_with_its_row_number_and_field(tmp_path: Path, line: str, field: str, words: str) -> None:
    path = write(tmp_path / "bad.csv", GOOD + line + "\n")
    with pytest.raises(TransactionValidationError) as caught:
        read_transactions_file(path, now=NOW)
    error = caught.value
    assert error.num_bad_rows == 1
    assert [(e.row, e.field) for e in error.errors] == [(3, field)]
    assert words in error.errors[0].message
    assert f"row 3, field {field}" in str(error) and "nothing loaded" in str(error)


def test_a_missing_column_is_named_with_the_required_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", GOOD.replace("TERMINAL_ID,", "").replace(",3156,", ",").replace(",3412,", ","))
    with pytest.raises(TransactionValidationError, match="column TERMINAL_ID is missing") as caught:
        read_transactions_file(path, now=NOW)
    assert caught.value.errors[0].field == "TERMINAL_ID"


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", GOOD)
    with pytest.raises(TransactionSourceError, match="over the limit of 10 bytes"):
        read_transactions_file(path, max_bytes=10, now=NOW)
    with pytest.raises(TransactionSourceError, match=r"accepted: \.csv, \.csv\.gz, \.parquet"):
        read_transactions_file(write(tmp_path / "t.json", "{}"), now=NOW)


def test_many_bad_rows_are_counted_and_the_first_ones_listed() -> None:
    frame = pd.DataFrame({"TRANSACTION_ID": range(50), "TX_DATETIME": ["2018-04-01"] * 50, "CUSTOMER_ID": 1,
                          "TERMINAL_ID": 2, "TX_AMOUNT": -1.0})
    with pytest.raises(TransactionValidationError, match="50 bad transaction row") as caught:
        validate_frame(frame, now=NOW, max_errors=5)
    assert [e.row for e in caught.value.errors] == [1, 2, 3, 4, 5]


def test_the_vectorised_check_and_the_pydantic_model_agree_row_by_row() -> None:
    values = {"TRANSACTION_ID": ["1", "-1", "1.5", "abc", "7", " 8"], "TX_AMOUNT": ["0", "-0.01", "1e3", "nan", "inf", "3"],
              "TX_DATETIME": ["2018-01-01", "2018-13-01", "2018-08-31 23:59:59", "2031-01-01", "2018-05-05T10:00:00", ""]}
    rows = [{"TRANSACTION_ID": i, "TX_AMOUNT": a, "TX_DATETIME": d, "CUSTOMER_ID": "3", "TERMINAL_ID": "4"}
            for i in values["TRANSACTION_ID"] for a in values["TX_AMOUNT"] for d in values["TX_DATETIME"]]
    for number, row in enumerate(rows, start=1):
        pydantic_ok = not row_errors(number, row, NOW)
        try:
            validate_frame(pd.DataFrame([row], dtype=str), now=NOW)
            frame_ok = True
        except TransactionValidationError:
            frame_ok = False
        assert pydantic_ok == frame_ok, row


def test_one_transaction_validates_through_the_model() -> None:
    tx = Transaction.model_validate({"TRANSACTION_ID": "12", "TX_DATETIME": "2018-04-01T10:00:00+02:00",
                                     "CUSTOMER_ID": 3, "TERMINAL_ID": 4, "TX_AMOUNT": 5.5, "now": NOW})
    assert tx.TRANSACTION_ID == 12 and tx.TX_DATETIME == datetime(2018, 4, 1, 8, 0)


def test_a_sql_table_reads_and_a_bad_row_in_it_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tx.db'}"
    good = pd.read_csv(pd.io.common.StringIO(GOOD))
    engine = sa.create_engine(url)
    good.to_sql("transactions", engine, index=False)
    good.assign(TX_AMOUNT=[1.0, -2.0]).to_sql("bad", engine, index=False)
    engine.dispose()
    frame = read_transactions_sql(url, "transactions", now=NOW)
    assert frame["TRANSACTION_ID"].tolist() == [0, 1]
    with pytest.raises(TransactionValidationError, match="row 2, field TX_AMOUNT"):
        read_transactions_sql(url, "bad", now=NOW)
    with pytest.raises(TransactionSourceError, match="tables: bad, transactions"):
        read_transactions_sql(url, "nope", now=NOW)
    with pytest.raises(TransactionSourceError, match="over the limit of 1"):
        read_transactions_sql(url, "transactions", max_rows=1, now=NOW)
