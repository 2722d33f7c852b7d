"""The platform's added latency over a local fake OpenAI-compatible endpoint.

A fake upstream (uvicorn, loopback) answers every chat completion at once. We time N requests
made with the official openai client straight to the fake, and N through Moesaic's API
(kb_assistant: auth, storage of both messages, retrieval over the seeded knowledge base with
MiniLM + Chroma + keyword index, prompt building, the model call). Added latency = through - direct,
p50 and p95. Run: `.venv/bin/python bench/platform_latency.py [--requests 200]`.
"""

from __future__ import annotations

import argparse
import platform as stdlib_platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.live import serve  # noqa: E402


def fake_upstream() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def complete(body: dict) -> dict:  # type: ignore[type-arg]
        return {
            "id": "fake", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Answer [1]."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        }

    return app


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(5):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    from openai import OpenAI

    from apps.kb_assistant.manifest import APP
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm.openai_compat import OpenAIChatModel
    from moesaic.access import authenticate, create_api_key
    from moesaic.services import Platform

    question = [{"role": "user", "content": "How do I connect a model to Moesaic?"}]
    with serve(fake_upstream()) as upstream, tempfile.TemporaryDirectory() as home:
        direct = OpenAI(base_url=upstream + "/v1", api_key="x", max_retries=0)
        settings = Settings(home=Path(home), database_url=f"sqlite:///{home}/m.db")
        platform = Platform.create(settings, model=OpenAIChatModel(upstream + "/v1", "fake", max_retries=0), apps={APP.name: APP})
        key = create_api_key(platform.db, "bench")
        tenant = authenticate(platform.db, key).tenant_id
        seed = Path(__file__).resolve().parents[1] / "apps" / "kb_assistant" / "seed"
        ids = [platform.knowledge.add_document(tenant, "default", p.name, p.read_bytes()).id for p in sorted(seed.iterdir())]
        platform.knowledge.wait(ids, timeout=120)
        with serve(create_app(platform=platform)) as api:
            through = OpenAI(base_url=api + "/v1", api_key=key, max_retries=0)
            direct_ms = timed(lambda: direct.chat.completions.create(model="fake", messages=question), args.requests)
            through_ms = timed(lambda: through.chat.completions.create(model="kb_assistant", messages=question), args.requests)
        platform.close()

    rows = []
    for name, values in (("direct to fake endpoint", direct_ms), ("through Moesaic (kb_assistant)", through_ms)):
        rows.append((name, statistics.median(values), percentile(values, 0.95)))
    added_p50 = rows[1][1] - rows[0][1]
    added_p95 = rows[1][2] - rows[0][2]
    print(f"# platform added latency, {date.today()}, {stdlib_platform.machine()} {__import__('os').cpu_count()} cores, n={args.requests}")
    print("| path | p50 ms | p95 ms |\n|---|---|---|")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    print(f"| added by the platform | {added_p50:.1f} | {added_p95:.1f} |")


if __name__ == "__main__":
    main()
