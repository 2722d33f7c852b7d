"""Rate limits per key (issue 16, limits): over the budget a key gets a 429 in OpenAI's shape with ``Retry-After``,
naming the limit and its setting; other keys are not affected; a limited chat request stores nothing. With
Redis the count is shared by every API process; a Redis that does not answer lets requests through."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from moesaic.api.ratelimit import WINDOW_S, MemoryCounter, RateLimited, RateLimiter, RedisCounter
from moesaic.config import Settings
from tests.conftest import DATASETS_DIR


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=DATASETS_DIR,
                    rate_limit_per_minute=8, rate_limit_chat_per_minute=3)


@pytest.fixture(autouse=True)
def same_minute() -> None:
    """Start away from the end of a one-minute window, so a test's requests all count in one."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < 5:
        time.sleep(left + 0.1)


def test_a_key_over_its_budget_gets_429_with_retry_after_and_other_keys_do_not(platform, client) -> None:  # type: ignore[no-untyped-def]
    from moesaic.access import create_api_key

    statuses = [client.get("/v1/models").status_code for _ in range(8)]
    assert statuses == [200] * 8
    refused = client.get("/v1/models")
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW_S
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert "8 requests per minute" in error["message"] and "MOESAIC_RATE_LIMIT_PER_MINUTE" in error["message"]
    other = create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}")  # another key: a budget of its own
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_chat_has_its_own_budget_and_a_limited_turn_stores_nothing(client, fake_model) -> None:  # type: ignore[no-untyped-def]
    body = {"model": "kb_assistant", "messages": [{"role": "user", "content": "hello"}]}
    fake_model.add("one", "two", "three", "four")
    assert [client.post("/v1/chat/completions", json=body).status_code for _ in range(3)] == [200] * 3
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429 and "MOESAIC_RATE_LIMIT_CHAT_PER_MINUTE" in refused.json()["error"]["message"]
    assert len(client.get("/v1/apps/kb_assistant/conversations").json()["data"]) == 3


def test_counts_in_redis_are_shared_by_every_process(redis_url: str) -> None:
    url, _, queue = redis_url.partition("#")
    first, second = (RateLimiter(5, 0, RedisCounter(url, queue)) for _ in range(2))  # two API processes
    key = secrets.token_hex(6)
    for limiter in (first, second, first, second, first):
        limiter.check(key, "/v1/models")
    with pytest.raises(RateLimited, match="5 requests per minute"):
        second.check(key, "/v1/models")


def test_an_unreachable_redis_lets_requests_through() -> None:
    limiter = RateLimiter(1, 0, RedisCounter("redis://127.0.0.1:1/0", "x"))
    for _ in range(3):
        limiter.check("k", "/v1/models")


def test_zero_turns_a_budget_off() -> None:
    limiter = RateLimiter(0, 0, MemoryCounter())
    for _ in range(50):
        limiter.check("k", "/v1/chat/completions")
