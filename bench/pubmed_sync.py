"""Benchmark: sync 10,000 PubMed records from the fake E-utilities server at NCBI's rate limit.

Usage: .venv/bin/python bench/pubmed_sync.py [--records 10000] [--batch 500] [--api-key]

The fake server (loopback) holds ``--records`` synthetic articles, 100 entering PubMed per day, and
answers 429 to any client that sends more than the allowed requests in one second (3/s without a
key, 10/s with one), as NCBI does. Three runs, each timed end to end:

1. ``sync``: the first sync of a saved query (esearch with the history server, efetch pages of
   ``--batch`` by WebEnv/query_key, XML parsed into Articles, handed to an in-memory sink);
2. ``incremental``: 200 new records added two days later, then the sync from the stored cursor;
3. ``by_pmids``: the same 10,000 records fetched by PMID list (efetch POST of ``--batch`` ids).

Then the articles are rendered to the Markdown and metadata a knowledge base would store (timed
apart: it is the sink's work). With ``--into-kb`` they are also queued into a real knowledge base
(``KnowledgeService.add_document`` on SQLite in a temporary home, no ingestion worker: the
embedding is the core's ingestion benchmark, not this one), and queued again to time the no-op
re-sync. Prints one JSON line; the CPU is named from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from connectors.article_sinks import KnowledgeBaseSink, MemorySink
from connectors.articles import Article
from connectors.pubmed import PubMedClient, load_settings
from connectors.pubmed_fake import FakeEUtilsServer, generate_records
from connectors.pubmed_sync import MemoryCursorStore, SavedQuery, sync_query
from machine import cpu_name  # noqa: E402  (bench/ is the script's folder)

TERM = "synthetic[all]"




def max_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, low = 0, 0
    for high, t in enumerate(times):
        while t - times[low] >= 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="records per efetch request")
    parser.add_argument("--api-key", action="store_true", help="send an API key: 10 requests/s instead of 3")
    parser.add_argument("--into-kb", action="store_true", help="also queue the articles into a real knowledge base")
    args = parser.parse_args()

    started = time.perf_counter()
    records = generate_records(args.records, per_day=100)
    generate_seconds = time.perf_counter() - started
    last_day = records[-1].edat
    result: dict[str, object] = {"bench": "pubmed_sync", "cpu": cpu_name(), "records": args.records,
                                 "batch": args.batch, "api_key": args.api_key,
                                 "generate_seconds": round(generate_seconds, 2)}
    with FakeEUtilsServer() as server:
        state = server.state
        state.add(records, term=TERM)
        state.max_rate = 10 if args.api_key else 3
        settings = load_settings(base_url=server.base_url, api_key="bench-key" if args.api_key else None,
                                 email="bench@example.org", batch_size=args.batch)
        result["rate_limit_per_s"] = settings.rate
        with PubMedClient(settings) as client:
            query, sink, cursors = SavedQuery("bench", TERM), MemorySink(), MemoryCursorStore()

            report = sync_query(client, query, sink, cursors, until=last_day)
            assert len(sink.articles) == args.records, f"synced {len(sink.articles)} of {args.records}"
            result["sync"] = {"seconds": report.seconds, "requests": report.num_requests,
                              "retries": report.num_retries, "windows": report.num_windows,
                              "records_per_s": round(report.num_written / report.seconds, 1)}

            new = generate_records(200, first_pmid=40_000_000, start=last_day + dt.timedelta(days=2), seed=1)
            state.add(new, term=TERM)
            report = sync_query(client, query, sink, cursors, until=new[-1].edat)
            assert len(sink.articles) == args.records + 200
            result["incremental"] = {"seconds": report.seconds, "found": report.num_found,
                                     "requests": report.num_requests, "retries": report.num_retries}

            pmids = [r.pmid for r in records]
            requests_before, retries_before = client.num_requests, client.num_retries
            started = time.perf_counter()
            fetched = client.fetch(pmids)
            seconds = time.perf_counter() - started
            assert len(fetched) == args.records
            result["by_pmids"] = {"seconds": round(seconds, 3), "requests": client.num_requests - requests_before,
                                  "retries": client.num_retries - retries_before,
                                  "posts": sum(1 for r in state.log if r.method == "POST")}

        started = time.perf_counter()
        rendered = sum(len(a.to_markdown()) + len(a.knowledge_metadata()) for a in sink.articles.values())
        result["render_seconds"] = round(time.perf_counter() - started, 3)
        result["retracted"] = sum(1 for a in sink.articles.values() if a.is_retracted)
        result["rendered_chars"] = rendered
        times = [r.at for r in state.log]
        result["server"] = {"requests": len(state.log), "answered_429": sum(1 for r in state.log if r.answered == 429),
                            "max_requests_in_any_second": max_in_one_second(times)}
    if args.into_kb:
        result["into_kb"] = queue_into_knowledge_base(list(sink.articles.values()))
    print(json.dumps(result))


def queue_into_knowledge_base(articles: list[Article]) -> dict[str, float]:
    from moesaic.config import Settings
    from moesaic.db import Database
    from moesaic.retrieval import KnowledgeService

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        db = Database(settings.resolved_database_url)
        db.migrate()
        knowledge = KnowledgeService(db, settings, start_worker=False)
        sink = KnowledgeBaseSink(knowledge, "bench", "pubmed")
        timings = {}
        for run in ("first", "again"):
            started = time.perf_counter()
            sink(articles)
            timings[f"{run}_seconds"] = round(time.perf_counter() - started, 2)
        documents, _ = knowledge.list_documents("bench", "pubmed")
        assert len(documents) == len(articles), f"{len(documents)} documents for {len(articles)} articles"
        timings["documents"] = len(documents)
        db.dispose()
    return timings


if __name__ == "__main__":
    main()
