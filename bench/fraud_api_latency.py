"""Benchmark: single-transaction scoring through the HTTP API (POST /v1/apps/fraud_detection/score), p50/p95/p99.

The server is a separate process (uvicorn, one worker, the fraud app only, SQLite in a temporary home,
the committed model), so client and server do not share a GIL. Before timing, a history is stored
(simulated by default, or the last ``--history-days`` days of ``--data`` before its last day) so that
each customer and terminal has a realistic stored state; then ``--requests`` transactions of the next
day are scored one after another over one keep-alive connection with an operator key. Each request does
the whole path: gate (key lookup), validation, state load (customer and terminal rows), features, model,
TreeSHAP reasons, storing the transaction, the state and the score, the audit row. For comparison it
also times a POST of the app that does almost nothing (``alerts:run`` for a day without scores: gate,
audit row, HTTP), the platform's floor. Prints one JSON line.

Run: ``.venv/bin/python bench/fraud_api_latency.py [--requests 2000] [--data FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from fraud_common import machine, percentiles_ms, transactions

RATE_LIMIT = 1_000_000  # the limiter still counts every request, but the benchmark's burst is not refused


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(home: Path):  # type: ignore[no-untyped-def]
    from moesaic.config import Settings

    return Settings(home=home, database_url=f"sqlite:///{home / 'moesaic.db'}", datasets_dir=home / "none",
                    rate_limit_per_minute=RATE_LIMIT)


def serve(home: Path, port: int) -> None:
    import uvicorn

    from apps.fraud_detection.manifest import APP
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    platform = Platform.create(settings_for(home), apps={APP.name: APP}, start_worker=False)
    platform.warm_up()
    uvicorn.run(create_app(platform=platform), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def history_and_requests(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = transactions(args.data, simulated_days=args.history_days + 1)
    frame = frame.drop(columns=[c for c in ("TX_FRAUD_SCENARIO",) if c in frame.columns])
    last_day = frame["TX_DATETIME"].max().floor("D")
    start = last_day - pd.Timedelta(days=args.history_days)
    history = frame[(frame["TX_DATETIME"] >= start) & (frame["TX_DATETIME"] < last_day)]
    requests = frame[frame["TX_DATETIME"] >= last_day].head(args.requests)
    return history, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--history-days", type=int, default=37)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.home, args.port)
        return 0

    import httpx

    from apps.fraud_detection.ingest import store_frame
    from apps.fraud_detection.manifest import APP
    from moesaic.access import create_api_key, ensure_tenant
    from moesaic.services import Platform

    home = Path(tempfile.mkdtemp(prefix="fraud-bench-"))
    history, requests = history_and_requests(args)
    platform = Platform.create(settings_for(home), apps={APP.name: APP}, start_worker=False)
    key = create_api_key(platform.db, "bench")
    started = time.perf_counter()
    with platform.db.session() as session:
        store_frame(session, ensure_tenant(platform.db, "bench"), history, source="import")
    store_seconds = time.perf_counter() - started
    platform.close()

    port = free_port()
    load_at_start = round(os.getloadavg()[0], 2)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--home", str(home), "--port", str(port)],
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not start")
                time.sleep(0.2)
            bodies = [{"TRANSACTION_ID": int(r.TRANSACTION_ID), "TX_DATETIME": r.TX_DATETIME.isoformat(),
                       "CUSTOMER_ID": int(r.CUSTOMER_ID), "TERMINAL_ID": int(r.TERMINAL_ID), "TX_AMOUNT": float(r.TX_AMOUNT)}
                      for r in requests.itertuples(index=False)]
            for body in bodies[:20]:  # warm-up: first requests load the model version and fill caches
                client.post("/v1/apps/fraud_detection/score", json={**body, "TRANSACTION_ID": body["TRANSACTION_ID"] + 10**12})
            times = []
            for body in bodies:
                t = time.perf_counter()
                answer = client.post("/v1/apps/fraud_detection/score", json=body)
                times.append(time.perf_counter() - t)
                assert answer.status_code == 200, answer.text
            floor = []  # the platform's own cost of an authenticated, audited POST of this app that does little
            for _ in range(min(500, len(bodies))):
                t = time.perf_counter()
                assert client.post("/v1/apps/fraud_detection/alerts:run", json={"day": "1999-01-01"}).status_code == 200
                floor.append(time.perf_counter() - t)
            server_side = [line for line in client.get("/metrics").text.splitlines()
                           if line.startswith("moesaic_fraud_scoring_latency_seconds_")]
    finally:
        server.terminate()
        server.wait(timeout=30)
    server_sum = next(float(x.split()[-1]) for x in server_side if x.startswith("moesaic_fraud_scoring_latency_seconds_sum"))
    server_count = next(float(x.split()[-1]) for x in server_side if x.startswith("moesaic_fraud_scoring_latency_seconds_count"))
    print(json.dumps({
        "benchmark": "fraud_detection single-transaction scoring through the API (HTTP, uvicorn, SQLite)",
        **machine(), "load_average_at_start": load_at_start, "requests": len(times), "history_rows": len(history),
        "history_store_seconds": round(store_seconds, 2), "data": str(args.data or "simulated"),
        **{k: round(v, 2) for k, v in percentiles_ms(times).items()},
        "server_route_mean_ms": round(server_sum / server_count * 1000, 2) if server_count else None,
        **{k: round(v, 2) for k, v in percentiles_ms(floor, "floor_post_").items() if k.endswith(("p50_ms", "p99_ms"))},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
