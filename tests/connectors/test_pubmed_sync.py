"""Incremental sync against the fake server: paging with WebEnv, the cursor, date windows past the
cap, nothing half-stored, re-syncs that update instead of duplicating."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from connectors.article_sinks import MemorySink
from connectors.articles import Article
from connectors.pubmed import PubMedClient, QueryTooLarge
from connectors.pubmed_fake import FakeEUtilsServer, FakeRecord, generate_records, synthetic_article_xml
from connectors.pubmed_sync import (
    EARLIEST,
    JsonFileCursorStore,
    MemoryCursorStore,
    SavedQuery,
    schedule_slot,
    sync_query,
)
from connectors.pubmed_xml import PubMedParseError
from tests.connectors.conftest import FIXTURES

MakeClient = Callable[..., PubMedClient]
QUERY = SavedQuery(name="colds", term="common cold")
DAY = dt.date(2024, 1, 1)


def test_first_sync_pages_through_the_history_server(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    records = generate_records(1_050, per_day=200)
    fake_server.state.add(records, term=QUERY.term)
    sink, cursors = MemorySink(), MemoryCursorStore()
    seen: list[tuple[int, int]] = []
    report = sync_query(make_client(batch_size=200), QUERY, sink, cursors, until=dt.date(2024, 2, 1),
                        progress=lambda done, total: seen.append((done, total)))
    assert sorted(a.pmid or "" for a in sink.articles.values()) == [r.pmid for r in records]
    assert (report.num_found, report.num_written, report.num_missing) == (1_050, 1_050, 0)
    search, *fetches = fake_server.state.log
    assert search.params["usehistory"] == "y" and search.params["mindate"] == "1700/01/01"
    assert search.params["maxdate"] == "2024/02/01" and search.params["datetype"] == "edat"
    (webenv,) = fake_server.state.history
    assert [(f.params["WebEnv"], f.params["query_key"]) for f in fetches] == [(webenv, "1")] * 6
    assert [(f.params["retstart"], f.params["retmax"]) for f in fetches] == [
        ("0", "200"), ("200", "200"), ("400", "200"), ("600", "200"), ("800", "200"), ("1000", "50")]
    assert seen[0] == (0, 1_050) and seen[-1] == (1_050, 1_050)
    assert cursors.load(QUERY) == dt.date(2024, 2, 1) and report.cursor == "2024-02-01"
    assert report.num_requests == 7


def test_next_sync_starts_at_the_cursor_and_updates_instead_of_duplicating(
        fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    old = generate_records(30, start=DAY, per_day=10)  # Jan 1-3
    fake_server.state.add(old, term=QUERY.term)
    sink, cursors = MemorySink(), MemoryCursorStore()
    client = make_client()
    sync_query(client, QUERY, sink, cursors, until=dt.date(2024, 1, 3))
    assert len(sink.articles) == 30 and cursors.load(QUERY) == dt.date(2024, 1, 3)

    rng = random.Random(5)
    new = [FakeRecord(str(31_000_000 + n), synthetic_article_xml(str(31_000_000 + n), rng=rng), dt.date(2024, 1, 5), dt.date(2024, 1, 5))
           for n in range(5)]
    revised = FakeRecord(old[-1].pmid, synthetic_article_xml(old[-1].pmid, rng=rng, retracted=True), old[-1].edat, old[-1].mdat)
    fake_server.state.add([*new, revised], term=QUERY.term)
    fake_server.state.log.clear()
    report = sync_query(client, QUERY, sink, cursors, until=dt.date(2024, 1, 6))

    search = fake_server.state.requests("esearch")[0]
    assert (search.params["mindate"], search.params["maxdate"]) == ("2024/01/03", "2024/01/06")
    assert report.num_found == 15  # the cursor's own day again (10) and the 5 new ones; not Jan 1-2
    assert len(sink.articles) == 35  # 30 + 5: the re-fetched day replaced, not added
    assert sink.articles[f"pubmed-{old[-1].pmid}"].is_retracted  # the revised version won
    assert cursors.load(QUERY) == dt.date(2024, 1, 6)


def test_sync_by_modification_date(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    rng = random.Random(2)
    fake_server.state.add([
        FakeRecord("100", synthetic_article_xml("100", rng=rng), edat=dt.date(2020, 1, 1), mdat=dt.date(2024, 3, 1)),
        FakeRecord("101", synthetic_article_xml("101", rng=rng), edat=dt.date(2024, 3, 1), mdat=dt.date(2020, 1, 1)),
    ], term=QUERY.term)
    query = SavedQuery(name="colds-modified", term=QUERY.term, datetype="mdat")
    sink = MemorySink()
    sync_query(make_client(), query, sink, MemoryCursorStore({query.name: dt.date(2024, 2, 1)}), until=dt.date(2024, 3, 2))
    assert list(sink.articles) == ["pubmed-100"]
    assert fake_server.state.log[0].params["datetype"] == "mdat"


def test_malformed_xml_stores_nothing_and_names_the_pmid(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    records = generate_records(20, per_day=20)
    broken = FakeRecord("55555502", (FIXTURES / "malformed_article.xml").read_text(), DAY, DAY)
    fake_server.state.add([*records[:10], broken, *records[10:]], term=QUERY.term)
    sink, cursors = MemorySink(), MemoryCursorStore({QUERY.name: DAY})
    with pytest.raises(PubMedParseError) as caught:
        sync_query(make_client(batch_size=8), QUERY, sink, cursors, until=dt.date(2024, 1, 9))
    assert caught.value.pmid == "55555502" and "PMID 55555502" in str(caught.value)
    assert sink.num_calls == 0 and sink.articles == {}  # the first page parsed fine, but nothing was written
    assert cursors.load(QUERY) == DAY  # unmoved: the next run tries the same window again


def test_a_failing_sink_keeps_the_cursor_and_the_rerun_writes_once(
        fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(12, per_day=12), term=QUERY.term)
    cursors = MemoryCursorStore()

    def failing(articles: Sequence[Article]) -> None:
        raise RuntimeError("knowledge base is down")

    client = make_client()
    with pytest.raises(RuntimeError, match="knowledge base is down"):
        sync_query(client, QUERY, failing, cursors, until=DAY)
    assert cursors.load(QUERY) is None
    sink = MemorySink()
    sync_query(client, QUERY, sink, cursors, until=DAY)
    assert (len(sink.articles), sink.num_writes) == (12, 12)


def test_a_query_over_the_cap_is_split_by_date(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    records = generate_records(250, per_day=50)  # Jan 1-5, 50 a day
    fake_server.state.add(records, term=QUERY.term)
    sink, cursors = MemorySink(), MemoryCursorStore({QUERY.name: DAY})
    report = sync_query(make_client(), QUERY, sink, cursors, until=dt.date(2024, 1, 8), cap=100)
    assert len(sink.articles) == 250 and report.num_written == 250
    assert report.num_windows >= 3 and all(w["found"] <= 100 for w in report.windows)
    days = [(w["mindate"], w["maxdate"]) for w in report.windows]
    assert days == sorted(days) and days[0][0] == "2024-01-01" and days[-1][1] >= "2024-01-05"
    assert cursors.load(QUERY) == dt.date(2024, 1, 8)


def test_one_day_over_the_cap_is_a_clear_error(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(150, per_day=150), term=QUERY.term)
    sink, cursors = MemorySink(), MemoryCursorStore({QUERY.name: DAY})
    with pytest.raises(QueryTooLarge, match="150 records with edat 2024-01-01 alone, over E-utilities' cap of 100"):
        sync_query(make_client(), QUERY, sink, cursors, until=dt.date(2024, 1, 4), cap=100)
    assert sink.num_calls == 0 and cursors.load(QUERY) == DAY


def test_expired_history_is_searched_again(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(30, per_day=30), term=QUERY.term)
    sink = MemorySink()
    expired: list[int] = []

    def expire_once(done: int, total: int) -> None:
        if done == 10 and not expired:
            fake_server.state.forget_history()
            expired.append(done)

    report = sync_query(make_client(batch_size=10), QUERY, sink, MemoryCursorStore(), until=DAY, progress=expire_once)
    assert len(sink.articles) == 30 and report.num_written == 30
    assert len(fake_server.state.requests("esearch")) == 2  # the plan, then a new search after the expiry


def test_nothing_to_sync_still_moves_the_cursor(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    cursors = MemoryCursorStore()
    report = sync_query(make_client(), QUERY, MemorySink(), cursors, until=DAY)
    assert (report.num_found, report.num_windows, cursors.load(QUERY)) == (0, 0, DAY)
    assert report.mindate == EARLIEST.isoformat()


def test_json_file_cursors_survive_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cursors.json"
    JsonFileCursorStore(path).save(QUERY, DAY)
    JsonFileCursorStore(path).save(SavedQuery("other", "x"), dt.date(2020, 5, 5))
    store = JsonFileCursorStore(path)
    assert store.load(QUERY) == DAY and store.load(SavedQuery("other", "x")) == dt.date(2020, 5, 5)
    assert store.load(SavedQuery("never", "x")) is None


def test_saved_query_and_schedule_slot_validation() -> None:
    with pytest.raises(Exception, match="needs a search term") as caught:
        SavedQuery(name="q", term=" ")
    assert getattr(caught.value, "field", None) == "term"
    with pytest.raises(Exception, match="datetype 'xdat'"):
        SavedQuery(name="q", term="t", datetype="xdat")  # type: ignore[arg-type]
    every = dt.timedelta(hours=6)
    morning = dt.datetime(2024, 5, 1, 7, 59, tzinfo=dt.timezone.utc)
    assert schedule_slot(morning, every) == "2024-05-01T06:00:00+00:00"
    assert schedule_slot(morning + dt.timedelta(hours=5), every) == "2024-05-01T12:00:00+00:00"
