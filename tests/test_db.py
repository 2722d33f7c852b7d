"""SQLite under concurrent writers: writers queue in the process instead of SQLite's busy polling."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from moesaic.db import SQLiteWriters, WriterConnection, make_engine


def writers_of(engine) -> SQLiteWriters:  # type: ignore[no-untyped-def]
    connection = engine.raw_connection()
    try:
        assert isinstance(connection.dbapi_connection, WriterConnection)
        return connection.dbapi_connection.writers
    finally:
        connection.close()


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (k INTEGER, seq INTEGER, PRIMARY KEY (k, seq))"))
    yield engine
    engine.dispose()


def test_concurrent_read_then_write_transactions_all_land(engine) -> None:  # type: ignore[no-untyped-def]
    def append(key: int) -> None:
        for _ in range(15):  # read the last seq, write the next, retry when taken: ConversationStore.append
            while True:
                try:
                    with engine.begin() as connection:
                        seq = connection.execute(text("SELECT coalesce(max(seq), 0) FROM t WHERE k = :k"),
                                                 {"k": key % 4}).scalar()
                        connection.execute(text("INSERT INTO t (k, seq) VALUES (:k, :s)"), {"k": key % 4, "s": seq + 1})
                    break
                except IntegrityError:
                    continue

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(append, range(16)))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT k, count(*), max(seq) FROM t GROUP BY k")).all()
    assert sorted(rows) == [(k, 60, 60) for k in range(4)]  # no lost update, no duplicate seq
    assert not writers_of(engine).lock.locked()


def test_a_failed_or_rolled_back_write_lets_the_next_writer_in(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1, 1)"))
    with pytest.raises(IntegrityError):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1, 1)"))
    assert not writers_of(engine).lock.locked()
    with engine.connect() as connection:  # a write left open: the pool's rollback on return ends it
        connection.execute(text("INSERT INTO t VALUES (2, 1)"))
        assert writers_of(engine).lock.locked()
    assert not writers_of(engine).lock.locked()
    done = threading.Event()

    def write() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (3, 1)"))
        done.set()

    threading.Thread(target=write).start()
    assert done.wait(5)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2  # (1, 1) and (3, 1)


def test_a_writer_waits_for_the_one_holding_the_lock(engine) -> None:  # type: ignore[no-untyped-def]
    order: list[str] = []
    first_wrote = threading.Event()

    def first() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1, 1)"))
            first_wrote.set()
            threading.Event().wait(0.3)
            order.append("first commits")

    def second() -> None:
        first_wrote.wait(5)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1, 2)"))
            order.append("second wrote")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first commits", "second wrote"]
