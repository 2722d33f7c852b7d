"""Saved PubMed queries: what to sync into which knowledge base, how often, and how far it got.

One row per (tenant, name). ``synced_through`` is the sync's cursor (``connectors.pubmed_sync``): the
last day whose records are stored; ``DbCursorStore`` moves it, each time in its own transaction and only
after the knowledge base took that window's records. ``last_status`` says how the last run went
(``never``, ``queued``, ``running``, ``succeeded``, ``failed``) with its error and counts. The PMIDs a
query brought in are kept per query (``literature_analysis_query_articles``): a claim check whose scope
is a saved query looks at those abstracts only.

Not here: the job (``sync``), HTTP (``query_routes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from moesaic.apps import ResourceCheck
from moesaic.db import Base, Database, TenantScoped, TimestampMixin, new_id, utcnow
from moesaic.errors import Conflict, NotFound, UserError

STATUSES = ("never", "queued", "running", "succeeded", "failed")
PMID_BATCH = 500  # PMIDs looked up per IN (...) when remembering a window's


class SavedQueryRow(TenantScoped, TimestampMixin, Base):
    __tablename__ = "literature_analysis_saved_queries"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_literature_analysis_saved_queries_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    term: Mapped[str] = mapped_column(String(4000), nullable=False)
    datetype: Mapped[str] = mapped_column(String(4), nullable=False, default="edat")
    knowledge_base: Mapped[str] = mapped_column(String(64), nullable=False)
    interval_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=24)
    synced_through: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[str] = mapped_column(String(16), nullable=False, default="never")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    num_found: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_written: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class QueryArticleRow(TenantScoped, Base):
    __tablename__ = "literature_analysis_query_articles"
    __table_args__ = (UniqueConstraint("tenant_id", "query_id", "pmid", name="uq_literature_analysis_query_articles"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    query_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    pmid: Mapped[str] = mapped_column(String(16), nullable=False)


TABLES = (SavedQueryRow, QueryArticleRow)


@dataclass(frozen=True)
class QueryRecord:
    id: str
    tenant_id: str
    name: str
    term: str
    datetype: str
    knowledge_base: str
    interval_hours: int
    synced_through: dt.date | None
    last_run_at: dt.datetime | None
    last_status: str
    last_error: str | None
    last_job_id: str | None
    num_found: int
    num_written: int
    num_runs: int
    created_at: dt.datetime

    @classmethod
    def of(cls, row: SavedQueryRow) -> "QueryRecord":
        return cls(row.id, row.tenant_id, row.name, row.term, row.datetype, row.knowledge_base, row.interval_hours,
                   row.synced_through, _aware(row.last_run_at), row.last_status, row.last_error, row.last_job_id,
                   row.num_found, row.num_written, row.num_runs, _aware(row.created_at) or utcnow())

    def is_due(self, now: dt.datetime) -> bool:
        """Never run, or the interval has passed since the last run ended."""
        return self.last_run_at is None or now - self.last_run_at >= dt.timedelta(hours=self.interval_hours)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def _row(session: Session, tenant_id: str, name: str) -> SavedQueryRow:
    row = session.scalar(select(SavedQueryRow).where(SavedQueryRow.tenant_id == tenant_id, SavedQueryRow.name == name))
    if row is None:
        raise NotFound(f"saved query {name!r} not found", field="name")
    return row


def create_query(db: Database, tenant_id: str, *, name: str, term: str, knowledge_base: str, interval_hours: int,
                 datetype: str = "edat", synced_through: dt.date | None = None) -> QueryRecord:
    try:
        with db.session() as session:
            row = SavedQueryRow(tenant_id=tenant_id, name=name, term=term, datetype=datetype, knowledge_base=knowledge_base,
                                interval_hours=interval_hours, synced_through=synced_through, last_status="never",
                                num_found=0, num_written=0, num_runs=0)
            session.add(row)
            session.flush()
            return QueryRecord.of(row)
    except IntegrityError:
        raise Conflict(f"a saved query named {name!r} exists already", field="name") from None


def get_query(db: Database, tenant_id: str, name: str) -> QueryRecord:
    with db.session() as session:
        return QueryRecord.of(_row(session, tenant_id, name))


def list_queries(db: Database, tenant_id: str | None) -> list[QueryRecord]:
    """A tenant's saved queries by name; ``tenant_id=None``: every tenant's (the scheduler)."""
    with db.session() as session:
        statement = select(SavedQueryRow).order_by(SavedQueryRow.tenant_id, SavedQueryRow.name)
        if tenant_id is not None:
            statement = statement.where(SavedQueryRow.tenant_id == tenant_id)
        return [QueryRecord.of(row) for row in session.scalars(statement)]


def delete_query(db: Database, tenant_id: str, name: str) -> QueryRecord:
    """Forget the query and which PMIDs it brought; the documents stay in the knowledge base."""
    with db.session() as session:
        row = _row(session, tenant_id, name)
        record = QueryRecord.of(row)
        session.execute(delete(QueryArticleRow).where(QueryArticleRow.tenant_id == tenant_id, QueryArticleRow.query_id == row.id))
        session.delete(row)
        return record


def mark(db: Database, tenant_id: str, name: str, status: str, *, job_id: str | None = None, error: str | None = None) -> None:
    """Record that a run was queued, started or failed (a failure also counts as a finished run)."""
    with db.session() as session:
        row = session.scalar(select(SavedQueryRow).where(SavedQueryRow.tenant_id == tenant_id, SavedQueryRow.name == name))
        if row is None:
            return
        row.last_status = status
        if job_id is not None:
            row.last_job_id = job_id
        if status == "failed":
            row.last_error = (error or "")[:4000]
            row.last_run_at = utcnow()
            row.num_runs += 1


def record_success(session: Session, tenant_id: str, name: str, report: dict[str, Any]) -> None:
    """In the job's completing session: the run succeeded with ``report`` (``SyncReport.to_dict``)."""
    row = _row(session, tenant_id, name)
    row.last_status, row.last_error, row.last_run_at = "succeeded", None, utcnow()
    row.num_runs += 1
    row.num_found = int(report.get("num_found", 0))
    row.num_written = int(report.get("num_written", 0))


def _add_pmids(session: Session, tenant_id: str, query_id: str, pmids: Iterable[str]) -> None:
    wanted = sorted({str(p) for p in pmids if p})
    for start in range(0, len(wanted), PMID_BATCH):
        batch = wanted[start : start + PMID_BATCH]
        known = set(session.scalars(select(QueryArticleRow.pmid).where(
            QueryArticleRow.tenant_id == tenant_id, QueryArticleRow.query_id == query_id, QueryArticleRow.pmid.in_(batch))))
        session.add_all(QueryArticleRow(tenant_id=tenant_id, query_id=query_id, pmid=p) for p in batch if p not in known)


def add_pmids(db: Database, tenant_id: str, query_id: str, pmids: Iterable[str]) -> None:
    """Remember that the query brought these PMIDs (known ones are kept once)."""
    with db.session() as session:
        _add_pmids(session, tenant_id, query_id, pmids)


def query_pmids(db: Database, tenant_id: str, query_id: str) -> set[str]:
    with db.session() as session:
        return set(session.scalars(select(QueryArticleRow.pmid).where(
            QueryArticleRow.tenant_id == tenant_id, QueryArticleRow.query_id == query_id)))


class DbCursorStore:
    """``connectors.pubmed_sync.CursorStore`` on the ``synced_through`` column of one tenant's queries.

    ``pending`` holds the PMIDs of the window the sink just stored; ``save`` remembers them for the query
    in the same transaction that moves the cursor past that window."""

    def __init__(self, db: Database, tenant_id: str) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.pending: set[str] = set()

    def load(self, query: Any) -> dt.date | None:
        with self.db.session() as session:
            return _row(session, self.tenant_id, query.name).synced_through

    def save(self, query: Any, cursor: dt.date) -> None:
        with self.db.session() as session:
            row = _row(session, self.tenant_id, query.name)
            _add_pmids(session, self.tenant_id, row.id, self.pending)
            row.synced_through = cursor
        self.pending.clear()


def resolve_scope(db: Database, tenant_id: str, knowledge_base: str | None, saved_query: str | None,
                  check: ResourceCheck) -> tuple[str, set[str] | None]:
    """A request's scope: (knowledge base, the PMIDs it is limited to, or None for the whole base).

    A saved query's knowledge base is checked against the caller with the gate's own ``check`` (the gate saw
    only the query's name): a key that may not use the app owning it gets the gate's 403 naming ``saved_query``."""
    if saved_query is None:
        if knowledge_base is None:
            raise UserError("give knowledge_base or saved_query", field="knowledge_base")
        return knowledge_base, None
    try:
        query = get_query(db, tenant_id, saved_query)
    except NotFound:
        raise NotFound(f"saved query {saved_query!r} not found", field="saved_query") from None
    check("knowledge_base", query.knowledge_base, "saved_query")
    if knowledge_base is not None and knowledge_base != query.knowledge_base:
        raise UserError(f"saved query {saved_query!r} fills knowledge base {query.knowledge_base!r}, not {knowledge_base!r}",
                        field="saved_query")
    pmids = query_pmids(db, tenant_id, query.id)
    if not pmids:
        raise NotFound(f"saved query {saved_query!r} has brought in no abstract yet: sync it first", field="saved_query")
    return query.knowledge_base, pmids
