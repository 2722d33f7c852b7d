"""Latency of the operator desk's reads: ``GET /v1/inbox`` (waiting time computed from every message of the
listed conversations) and ``GET /v1/conversations`` search (text, customer, state, a page), on SQLite.

    python bench/desk_latency.py [--inbox 200] [--resolved 2000] [--messages 12] [--runs 30]

Builds a throwaway platform (temporary home, the fake model), writes the conversations straight through the
store, then times the routes through the ASGI app in-process (no network). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from moesaic.access import create_api_key, ensure_tenant
from moesaic.api.main import create_app
from moesaic.config import Settings
from moesaic.identity import Identity
from moesaic.llm import FakeChatModel
from moesaic.services import Platform
from moesaic.types import Message


def fill(platform: Platform, tenant_id: str, count: int, state: str, num_messages: int) -> None:
    for n in range(count):
        conversation = platform.store.create(tenant_id, "kb_assistant", title=f"parcel question {n}")
        for m in range(num_messages):
            role = "user" if m % 2 == 0 else "assistant"
            platform.store.append(tenant_id, conversation.id, Message(role=role, content=f"message {m} about parcel {n}"))
        identity = Identity.now(f"customer_{n:05d}", "email").to_dict()
        platform.store.update(tenant_id, conversation.id, state=state, metadata={"identity": identity})


def timed(client: TestClient, path: str, params: dict[str, object], runs: int) -> dict[str, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, params=params)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    seconds.sort()
    return {"p50_ms": round(statistics.median(seconds) * 1000, 1),
            "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inbox", type=int, default=200)
    parser.add_argument("--resolved", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=12)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    from apps.kb_assistant.manifest import APP

    platform = Platform.create(Settings(home=home / "home", datasets_dir=home / "none", rate_limit_per_minute=0),
                               model=FakeChatModel(), apps={APP.name: APP})
    key = create_api_key(platform.db, "bench")
    tenant_id = ensure_tenant(platform.db, "bench")
    started = time.perf_counter()
    fill(platform, tenant_id, args.inbox, "handed_off", args.messages)
    fill(platform, tenant_id, args.resolved, "resolved", args.messages // 2)
    built = time.perf_counter() - started
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        results = {
            "conversations": {"inbox": args.inbox, "resolved": args.resolved, "messages_each": args.messages},
            "fill_s": round(built, 1),
            "inbox": timed(client, "/v1/inbox", {}, args.runs),
            "search_text_resolved": timed(client, "/v1/conversations", {"q": "parcel 1999", "state": "resolved"}, args.runs),
            "search_customer": timed(client, "/v1/conversations", {"customer": "customer_0019"}, args.runs),
            "search_page_50": timed(client, "/v1/conversations", {"state": "resolved", "limit": 50, "offset": 1000}, args.runs),
        }
    platform.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
