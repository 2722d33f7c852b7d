"""Finding 6 of issue 16: a too-long message, too many messages and an unbounded ``max_tokens`` are each a
422 naming the field and the setting, and store nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moesaic.config import get_settings


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MOESAIC_MAX_MESSAGE_CHARS", "1000")
    monkeypatch.setenv("MOESAIC_MAX_MESSAGES", "5")
    monkeypatch.setenv("MOESAIC_MAX_TOKENS_LIMIT", "4096")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _chat(client, messages: list[dict], **extra: object):  # type: ignore[no-untyped-def,type-arg]
    return client.post("/v1/chat/completions", json={"model": "kb_assistant", "messages": messages, **extra})


def _assert_refused(response, field: str, setting: str, client) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (413, 422), response.text
    error = response.json()["error"]
    assert error["param"] == field, error
    assert setting in error["message"] and field in error["message"], error
    assert client.get("/v1/apps/kb_assistant/conversations").json()["data"] == []


def test_too_long_message_is_refused_naming_the_limit(limits, client) -> None:  # type: ignore[no-untyped-def]
    _assert_refused(_chat(client, [{"role": "user", "content": "x" * 1001}]), "messages.0.content",
                    "MOESAIC_MAX_MESSAGE_CHARS", client)
    parts = [{"type": "text", "text": "y" * 600}, {"type": "text", "text": "z" * 600}]
    _assert_refused(_chat(client, [{"role": "assistant", "content": parts}, {"role": "user", "content": "hi"}]),
                    "messages.0.content", "MOESAIC_MAX_MESSAGE_CHARS", client)


def test_too_many_messages_are_refused_naming_the_limit(limits, client) -> None:  # type: ignore[no-untyped-def]
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(6)]
    _assert_refused(_chat(client, [*history, {"role": "user", "content": "last"}]), "messages", "MOESAIC_MAX_MESSAGES", client)


@pytest.mark.parametrize("max_tokens", [4097, 10**30])
def test_max_tokens_over_the_bound_is_refused(limits, client, max_tokens: int) -> None:  # type: ignore[no-untyped-def]
    _assert_refused(_chat(client, [{"role": "user", "content": "hi"}], max_tokens=max_tokens), "max_tokens",
                    "MOESAIC_MAX_TOKENS_LIMIT", client)


def test_requests_within_the_limits_are_answered(limits, client, fake_model) -> None:  # type: ignore[no-untyped-def]
    fake_model.add("fine")
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 1000} for i in range(4)]
    response = _chat(client, [*history, {"role": "user", "content": "last"}], max_tokens=4096)
    assert response.status_code == 200, response.text


def test_default_limits_refuse_a_10_mb_message(client) -> None:  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    response = _chat(client, [{"role": "user", "content": "a" * 10_000_000}])
    assert response.status_code == 422 and "MOESAIC_MAX_MESSAGE_CHARS" in response.json()["error"]["message"]
