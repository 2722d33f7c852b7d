"""Incremental sync of a saved PubMed query into a sink, by date, with a cursor.

``sync_query`` searches the records whose date (``edat``: added to PubMed, ``mdat``: last modified)
falls between the query's cursor and ``until`` (today, UTC), fetches and parses them through the
history server, hands them to a sink, and moves the cursor. A query over ESearch's 10,000-record cap
is split into date windows (bisection; one day over the cap raises ``QueryTooLarge``).

Nothing is half-stored: a window's records are all fetched and parsed before the sink sees any of
them, and the cursor moves only after the sink took them. A failure leaves the cursor where it was;
the next run fetches those records again, and since sinks write by a stable id (``Article.filename``)
a record written twice is updated, not duplicated. The cursor's day is fetched again on the next run
(date bounds are whole days, inclusive): records added later that day are not missed.

Not here: HTTP (``pubmed``), the job and its schedule (the app wires ``sync_query`` into a job).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from connectors.articles import Article
from connectors.pubmed import ESEARCH_CAP, DateRange, DateType, HistoryExpired, PubMedClient, QueryTooLarge, SearchResult
from moesaic.errors import UserError

EARLIEST = dt.date(1700, 1, 1)  # the first sync of a query starts here (PubMed's oldest records are 1781)

DocumentSink = Callable[[Sequence[Article]], None]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SavedQuery:
    """A PubMed query synced under ``name`` (the cursor's key)."""

    name: str
    term: str
    datetype: DateType = "edat"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise UserError("a saved query needs a name", field="name")
        if not self.term.strip():
            raise UserError("a saved query needs a search term", field="term")
        if self.datetype not in ("edat", "mdat", "pdat"):
            raise UserError(f"datetype {self.datetype!r} is not one of edat, mdat, pdat", field="datetype")


class CursorStore(Protocol):
    """Where a query's cursor (the last day synced) lives between runs."""

    def load(self, query: SavedQuery) -> dt.date | None: ...

    def save(self, query: SavedQuery, cursor: dt.date) -> None: ...


class MemoryCursorStore:
    def __init__(self, cursors: dict[str, dt.date] | None = None) -> None:
        self.cursors = dict(cursors or {})

    def load(self, query: SavedQuery) -> dt.date | None:
        return self.cursors.get(query.name)

    def save(self, query: SavedQuery, cursor: dt.date) -> None:
        self.cursors[query.name] = cursor


class JsonFileCursorStore:
    """Cursors in one JSON file ({name: "YYYY-MM-DD"}), replaced atomically on every save."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text() or "{}"))

    def load(self, query: SavedQuery) -> dt.date | None:
        value = self._read().get(query.name)
        return dt.date.fromisoformat(value) if value else None

    def save(self, query: SavedQuery, cursor: dt.date) -> None:
        with self._lock:
            cursors = {**self._read(), query.name: cursor.isoformat()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name)
            with os.fdopen(handle, "w") as out:
                json.dump(cursors, out, indent=1, sort_keys=True)
            os.replace(temporary, self.path)


@dataclass
class SyncReport:
    query: str
    mindate: str
    maxdate: str
    cursor: str | None = None  # the cursor after this run
    num_found: int = 0  # records the searches counted
    num_written: int = 0  # articles handed to the sink
    num_missing: int = 0  # counted but not returned by efetch (deleted meanwhile)
    num_windows: int = 0
    num_requests: int = 0
    num_retries: int = 0
    seconds: float = 0.0
    windows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_windows(client: PubMedClient, term: str, dates: DateRange,
                 cap: int = ESEARCH_CAP) -> list[tuple[DateRange, SearchResult]]:
    """Date windows that cover ``dates`` in order, each matching at most ``cap`` records, with their
    searches kept on the history server. Empty windows are left out."""
    result = client.esearch(term, dates=dates)
    if result.count <= cap:
        return [(dates, result)] if result.count else []
    if dates.mindate >= dates.maxdate:
        raise QueryTooLarge(
            f"the query matches {result.count:,} records with {dates.datetype} {dates.mindate.isoformat()} alone, "
            f"over E-utilities' cap of {cap:,} per search; narrow the query", count=result.count)
    middle = dates.mindate + (dates.maxdate - dates.mindate) // 2
    first = DateRange(dates.mindate, middle, dates.datetype)
    second = DateRange(middle + dt.timedelta(days=1), dates.maxdate, dates.datetype)
    return plan_windows(client, term, first, cap) + plan_windows(client, term, second, cap)


def fetch_window(client: PubMedClient, term: str, dates: DateRange, search: SearchResult, *,
                 batch_size: int, on_page: Callable[[int], None] = lambda n: None) -> dict[str, Article]:
    """Every record of one window's search, by PMID, paged through the history server. An expired
    history is searched again once (pages already fetched are kept: records are keyed by PMID)."""
    staged: dict[str, Article] = {}
    retstart, searched_again = 0, False
    while retstart < search.count:
        size = min(batch_size, search.count - retstart)
        try:
            articles = client.fetch_page(search, retstart, size)
        except HistoryExpired:
            if searched_again:
                raise
            search, retstart, searched_again = client.esearch(term, dates=dates), 0, True
            continue
        for article in articles:
            staged[article.source_id] = article
        retstart += size
        on_page(len(articles))
    return staged


def sync_query(client: PubMedClient, query: SavedQuery, sink: DocumentSink, cursors: CursorStore, *,
               until: dt.date | None = None, batch_size: int | None = None,
               progress: Progress | None = None, cap: int = ESEARCH_CAP) -> SyncReport:
    """Bring ``sink`` up to date with ``query``: the records dated from the cursor (or the start of
    PubMed) to ``until``. Returns what it did; raises (cursor unmoved) when a window fails."""
    started = time.perf_counter()
    requests_before, retries_before = client.num_requests, client.num_retries
    since = cursors.load(query) or EARLIEST
    until = until or dt.datetime.now(dt.timezone.utc).date()
    if since > until:
        raise UserError(f"the cursor of {query.name!r} ({since}) is after {until}", field="until")
    report = SyncReport(query=query.name, mindate=since.isoformat(), maxdate=until.isoformat())
    windows = plan_windows(client, query.term, DateRange(since, until, query.datetype), cap)
    report.num_windows = len(windows)
    report.num_found = sum(search.count for _, search in windows)
    done = 0

    def on_page(num_records: int) -> None:
        nonlocal done
        done += num_records
        if progress is not None:
            progress(done, report.num_found)

    if progress is not None:
        progress(0, report.num_found)
    for dates, search in windows:
        staged = fetch_window(client, query.term, dates, search,
                              batch_size=batch_size or client.settings.batch_size, on_page=on_page)
        articles = list(staged.values())
        if articles:
            sink(articles)
        cursors.save(query, dates.maxdate)
        report.num_written += len(articles)
        report.num_missing += max(search.count - len(articles), 0)
        report.windows.append({"mindate": dates.mindate.isoformat(), "maxdate": dates.maxdate.isoformat(),
                               "found": search.count, "written": len(articles)})
    cursors.save(query, until)
    report.cursor = until.isoformat()
    report.num_requests = client.num_requests - requests_before
    report.num_retries = client.num_retries - retries_before
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def schedule_slot(now: dt.datetime, every: dt.timedelta) -> str:
    """The start of the ``every``-long slot holding ``now`` (UTC, ISO): a job's ``dedupe_key`` made
    of it lets any number of schedulers ask for one sync per slot."""
    seconds = every.total_seconds()
    if seconds <= 0:
        raise UserError("the sync interval must be positive", field="every")
    epoch = now.astimezone(dt.timezone.utc).timestamp()
    start = dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.timezone.utc)
    return start.isoformat(timespec="seconds")
