"""Fixtures for connector tests: a fake E-utilities server on loopback and clients pointed at it.

Clients here pace themselves fast (a private token bucket) and back off for milliseconds, so the
suite stays quick; the rate-limit tests build their own clients at the real rates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.pubmed import PubMedClient, load_settings
from connectors.pubmed_fake import FakeEUtilsServer
from connectors.rate_limit import TokenBucket

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fake_server() -> Iterator[FakeEUtilsServer]:
    with FakeEUtilsServer() as server:
        yield server


@pytest.fixture
def make_client(fake_server: FakeEUtilsServer) -> Iterator[Callable[..., PubMedClient]]:
    clients: list[PubMedClient] = []

    def make(*, rate: float = 500.0, limiter: TokenBucket | None = None, **overrides: object) -> PubMedClient:
        overrides.setdefault("backoff_s", 0.01)
        overrides.setdefault("email", "dev@example.org")
        settings = load_settings(base_url=fake_server.base_url, **overrides)
        client = PubMedClient(settings, limiter=limiter or TokenBucket(rate))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

