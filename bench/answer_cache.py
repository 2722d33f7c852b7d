"""Answer cache on a replayed stream of repeated questions: hit rate, false hits, latency of a hit vs a miss.

The kb_assistant app with its seed documents plus the store FAQ (apps/customer_service/seed/faq.md), the
offline extractive model, SQLite, through the API (FastAPI's TestClient, so the HTTP stack is in the time).
Questions: the hand-written ones of ``answer_cache_pairs.py``; a paraphrase pair is one intent, every other
question its own. Each request draws an intent with Zipf-like weights (1/rank^s), then one of its wordings,
sometimes re-cased or without its question mark. A hit is a false hit when the answer it served was stored for
another intent. Every request is a new conversation (first turns are what the cache serves).

    PYTHONPATH=platform:bench:. HF_HUB_OFFLINE=1 python bench/answer_cache.py [--requests 400 --zipf 1.1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from answer_cache_pairs import DIFFERENT, PARAPHRASES

ROOT = Path(__file__).resolve().parents[1]


def intents() -> list[list[str]]:
    groups: list[list[str]] = [[a, b] for a, b in PARAPHRASES]
    seen = {q for group in groups for q in group}
    for pair in DIFFERENT:
        for question in pair:
            if question not in seen:
                groups.append([question])
                seen.add(question)
    return groups


def variant(question: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return question.lower()
    if roll < 0.3:
        return question.rstrip("?")
    return question


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--zipf", type=float, default=1.1, help="exponent s of the 1/rank^s weights")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from apps.kb_assistant.manifest import APP
    from moesaic.access import create_api_key
    from moesaic.answers.matching import normalise_question
    from moesaic.answers.tables import CachedAnswer
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.services import Platform

    home = Path(tempfile.mkdtemp(prefix="answer-cache-bench-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'moesaic.db'}", rate_limit_per_minute=0,
                        rate_limit_chat_per_minute=0)
    app = APP.model_copy(update={"knowledge_documents": None})  # uploaded below, and waited for
    platform = Platform.create(settings, apps={app.name: app})  # offline extractive model
    key = create_api_key(platform.db, "bench")
    groups = intents()
    intent_of = {normalise_question(q): index for index, group in enumerate(groups) for q in group}
    rng = random.Random(args.seed)
    order = list(range(len(groups)))
    rng.shuffle(order)  # which intents are hot
    weights = [1.0 / (rank + 1) ** args.zipf for rank in range(len(order))]
    timings: dict[str, list[float]] = {"hit": [], "miss": []}
    served: list[tuple[str, int]] = []  # (cache entry, intent asked) of hits
    asked: list[int] = []
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        ids = []
        for path in [ROOT / "apps" / "customer_service" / "seed" / "faq.md", *sorted((ROOT / "apps" / "kb_assistant" / "seed").iterdir())]:
            response = client.post("/v1/knowledge-bases/default/documents", files={"file": (path.name, path.read_bytes(), "text/plain")})
            ids.append(response.json()["id"])
        platform.knowledge.wait(ids, timeout=300)
        client.post("/v1/chat/completions", json={"model": "kb_assistant", "messages": [{"role": "user", "content": "warm up"}]})
        for _ in range(args.requests):
            intent = order[rng.choices(range(len(order)), weights)[0]]
            question = variant(rng.choice(groups[intent]), rng)
            asked.append(intent)
            started = time.perf_counter()
            body = client.post("/v1/chat/completions", json={
                "model": "kb_assistant", "messages": [{"role": "user", "content": question}]}).json()
            elapsed = time.perf_counter() - started
            last = client.get(f"/v1/conversations/{body['conversation_id']}/messages").json()["data"][-1]
            if last["metadata"].get("served_from"):
                timings["hit"].append(elapsed)
                served.append((last["metadata"].get("cache_entry", ""), intent))
            else:
                timings["miss"].append(elapsed)
    with platform.db.session() as session:
        stored_for = {row.id: intent_of.get(normalise_question(row.question), -1) for row in session.scalars(select(CachedAnswer))}
    false_hits = [(entry, asked) for entry, asked in served if stored_for.get(entry) != asked]
    platform.close()
    total = len(timings["hit"]) + len(timings["miss"])
    print(f"{total} requests over {len(groups)} intents ({sum(len(g) for g in groups)} wordings), zipf s={args.zipf}")
    print(f"hit rate {len(timings['hit']) / total:.1%} ({len(timings['hit'])} hits), false hits {len(false_hits)}")
    for kind, values in timings.items():
        if values:
            print(f"{kind:4s}: n={len(values)} p50 {percentile(values, 0.5) * 1000:.1f} ms, p95 {percentile(values, 0.95) * 1000:.1f} ms, "
                  f"mean {statistics.mean(values) * 1000:.1f} ms")
    print(f"ceiling (every repeat of an intent a hit): {1 - len(set(asked)) / total:.1%}")


if __name__ == "__main__":
    main()
