"""SQLAlchemy engine, sessions and the declarative base shared by every table.

Schema changes go through Alembic: the core's revisions in ``moesaic/migrations/versions`` plus each
app's own folder (a branch of its own, see docs/APPS.md); ``migrate()`` brings a database to every head.
``TenantScoped`` is the mixin every app table uses. Nothing here knows about apps by name.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import DateTime, Engine, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from moesaic.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class TenantScoped:
    """Mixin for app tables: an indexed ``tenant_id`` column (the platform refuses app tables without it).

    Every query of such a table filters on the caller's tenant; one tenant never sees another's rows."""

    tenant_id: Mapped[str] = mapped_column(String(32), index=True, nullable=False)


SQLITE_BUSY_TIMEOUT_S = 30
SQLITE_POOL_SIZE = 40  # anyio's default thread pool: each request thread keeps a connection instead of reopening one
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")  # where pysqlite opens its (deferred) transaction


class SQLiteWriters:
    """One writing transaction at a time in this process, queued on a lock instead of SQLite's busy handler.

    SQLite lets one connection write at a time; a second writer's statement sleeps and polls (1 ms growing to
    100 ms per try), so under many concurrent turns most of a turn went on sleeping past a lock that was long
    free. Here a connection takes ``lock`` before the statement that opens its transaction and lets it go when
    the transaction commits or rolls back (``WriterConnection``). A thread that already writes on another
    connection does not wait for itself, and no one waits longer than the busy timeout: SQLite's own locking
    then decides, as before. Other processes (workers) still meet the busy timeout."""

    def __init__(self, timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> None:
        self.lock = threading.Lock()
        self.timeout_s = timeout_s
        self.holder: int | None = None  # the thread whose connection writes

    def before_statement(self, connection: "WriterConnection", statement: str) -> None:
        if connection.holds_writer or not statement.lstrip()[:7].upper().startswith(WRITE_STATEMENTS):
            return
        if self.holder == threading.get_ident():
            return
        if self.lock.acquire(timeout=self.timeout_s):
            self.holder = threading.get_ident()
            connection.holds_writer = True

    def release(self, connection: "WriterConnection") -> None:
        if connection.holds_writer:
            connection.holds_writer = False
            self.holder = None
            self.lock.release()


class WriterConnection(sqlite3.Connection):
    """A pysqlite connection that gives the process's writer lock back when its transaction ends."""

    writers: SQLiteWriters
    holds_writer = False

    def commit(self) -> None:
        super().commit()
        self.writers.release(self)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.writers.release(self)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.writers.release(self)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and in-process queueing of writers
    (``SQLiteWriters``) so threads can share it. SQL parameters (users' text) are hidden from error messages
    and logs."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        writers = SQLiteWriters()
        factory = type("WriterConnection", (WriterConnection,), {"writers": writers})  # this engine's lock
        pool = {} if memory else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 10}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S,
                                                  "factory": factory}, hide_parameters=True, **pool)

        @event.listens_for(engine, "before_cursor_execute")
        def _queue_writer(conn, _cursor, statement, _parameters, _context, _many):  # type: ignore[no-untyped-def]
            dbapi_connection = conn.connection.dbapi_connection
            if isinstance(dbapi_connection, WriterConnection):
                writers.before_statement(dbapi_connection, statement)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # hide_parameters: SQL parameters hold users' text; they never reach error messages or logs
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


def migrate(engine: Engine, version_locations: Iterable[Path | str] = ()) -> None:
    """Upgrade the database behind ``engine`` to every head: the core's revisions plus the revision
    folders in ``version_locations`` (one per app that has migrations)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    folders = [str(CORE_VERSIONS_DIR), *(str(Path(folder)) for folder in version_locations)]
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(dict.fromkeys(folders)))
    from alembic.util.exc import CommandError

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "heads")
        except CommandError as exc:
            raise ConfigError(f"database migration failed: {exc} (is an app whose migrations this database "
                              "holds no longer installed?)") from exc


class Database:
    """One engine plus a session factory; ``session()`` commits on success and rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self, version_locations: Iterable[Path | str] = ()) -> None:
        migrate(self.engine, version_locations)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
