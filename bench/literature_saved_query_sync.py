"""Benchmark: a literature_analysis saved query synced as a job of the platform's embedded queue.

Usage: .venv/bin/python bench/literature_saved_query_sync.py [--records 2000] [--new 200]

A platform (SQLite and embedded Chroma in a temporary home, one job consumer thread, so the ingestion
jobs the sync queues wait behind it) runs the app's ``pubmed_sync`` job against the fake E-utilities
server on loopback at NCBI's rate without a key (3 requests/s; the server answers 429 above it). Two runs,
each timed from the job's start to its end (``started_at`` .. ``finished_at``):

1. ``first``: ``--records`` records (100 a day), written to the knowledge base (``add_document``, queued
   for indexing), their PMIDs remembered for the query, the cursor moved;
2. ``incremental``: ``--new`` records dated today added, then the sync from the stored cursor (``--new 0``:
   left out; this job waits behind the first run's ingestion jobs on the one consumer thread).

The embedding of the queued documents is the core's ingestion benchmark, not this one. Prints one JSON
line; the CPU is named from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any
from machine import cpu_name  # noqa: E402  (bench/ is the script's folder)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--new", type=int, default=200)
    args = parser.parse_args()

    from apps.literature_analysis.manifest import APP
    from apps.literature_analysis.saved_queries import create_query, get_query, query_pmids
    from apps.literature_analysis.sync import enqueue_sync
    from connectors.pubmed import load_settings
    from connectors.pubmed_fake import FakeEUtilsServer, generate_records
    from moesaic.access import ensure_tenant
    from moesaic.config import Settings
    from moesaic.services import Platform

    today = dt.datetime.now(dt.timezone.utc).date()
    with tempfile.TemporaryDirectory() as home, FakeEUtilsServer() as server:
        server.state.max_rate = 3
        server.state.add(generate_records(args.records, start=dt.date(2024, 1, 1), per_day=100), term="bench")
        settings = Settings(home=Path(home), datasets_dir=Path(home) / "none", worker_concurrency=1)
        platform = Platform.create(settings, apps={APP.name: APP})
        context = platform.app_context(APP.name)
        context.services["pubmed_settings"] = load_settings(base_url=server.base_url)
        tenant = ensure_tenant(platform.db, "bench")
        runs: dict[str, Any] = {}
        try:
            query = create_query(platform.db, tenant, name="bench", term="bench", knowledge_base="bench", interval_hours=24)
            for run in ("first", "incremental") if args.new else ("first",):
                if run == "incremental":
                    server.state.add(generate_records(args.new, first_pmid=39_000_000, start=today, per_day=args.new, seed=1),
                                     term="bench")
                info = enqueue_sync(context, tenant, get_query(platform.db, tenant, "bench"))
                (job,) = platform.jobs.wait(tenant, [info.id], timeout=900)
                assert job.state == "succeeded", job.error
                seconds = (job.finished_at - job.started_at).total_seconds()
                runs[run] = {"seconds": round(seconds, 2), "written": job.result["num_written"],
                             "requests": job.result["num_requests"], "retries": job.result["num_retries"],
                             "records_per_s": round(job.result["num_written"] / seconds, 1)}
            runs["pmids_remembered"] = len(query_pmids(platform.db, tenant, query.id))
            runs["answered_429"] = sum(1 for r in server.state.log if r.answered == 429)
            print(json.dumps({"benchmark": "literature_saved_query_sync", "records": args.records, "new": args.new,
                              "cpu": cpu_name(), **runs}), flush=True)  # before closing: that waits for the indexing
        finally:
            platform.close()


if __name__ == "__main__":
    main()
