"""The E-utilities client against the fake server: identity parameters, rate limits, retries, POST."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable

import pytest

from connectors.pubmed import (
    PubMedClient,
    PubMedError,
    PubMedQueryError,
    QueryTooLarge,
    load_settings,
    retry_after_seconds,
)
from connectors.pubmed_fake import Fault, FakeEUtilsServer, generate_records
from connectors.rate_limit import TokenBucket
from moesaic.errors import ConfigError

MakeClient = Callable[..., PubMedClient]


def test_every_request_identifies_the_tool(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(3), term="colds")
    client = make_client(tool="moesaic-test", api_key="k123")
    assert client.search("colds") == ["30000000", "30000001", "30000002"]
    client.fetch(["30000000"])
    assert len(fake_server.state.log) == 2
    for request in fake_server.state.log:
        assert request.params["tool"] == "moesaic-test"
        assert request.params["email"] == "dev@example.org"
        assert request.params["api_key"] == "k123"
        assert request.params["db"] == "pubmed"


def test_rates_default_to_ncbi_limits_and_bad_settings_name_the_variable() -> None:
    assert load_settings(api_key=None).rate == 3.0
    assert load_settings(api_key="k").rate == 10.0
    assert load_settings(requests_per_second=5).rate == 5.0
    with pytest.raises(ConfigError, match="MOESAIC_PUBMED_BASE_URL"):
        load_settings(base_url="ftp://example.org")
    with pytest.raises(ConfigError, match="MOESAIC_PUBMED_REQUESTS_PER_SECOND"):
        load_settings(requests_per_second=50)


def _max_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_requests_never_exceed_the_rate_in_any_second(fake_server: FakeEUtilsServer) -> None:
    """The real NCBI rate with an API key (10/s), measured at the server, which answers 429 past it."""
    fake_server.state.add(generate_records(30), term="colds")
    fake_server.state.max_rate = 10
    settings = load_settings(base_url=fake_server.base_url, api_key="k", backoff_s=0.01, batch_size=1)
    with PubMedClient(settings) as client:  # the process-wide bucket at 10/s
        started = time.monotonic()
        assert len(client.fetch([str(30_000_000 + n) for n in range(14)])) == 14
        elapsed = time.monotonic() - started
    times = [r.at for r in fake_server.state.log]
    assert len(times) == 14 and client.num_retries == 0
    assert all(r.answered == 200 for r in fake_server.state.log)  # the server's own 429 never fired
    assert _max_in_one_second(times) <= 10
    assert elapsed >= 13 / 10  # paced, not bursting


def test_a_client_faster_than_the_server_allows_gets_429_and_recovers(
        fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(6), term="colds")
    fake_server.state.max_rate = 3
    client = make_client(rate=1000, batch_size=1)  # no pacing at all
    assert len(client.fetch([str(30_000_000 + n) for n in range(6)])) == 6
    answers = [r.answered for r in fake_server.state.log]
    assert 429 in answers and client.num_retries >= 1
    assert answers.count(200) == 6


def test_429_waits_what_retry_after_says(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(2), term="colds")
    fake_server.state.faults.append(Fault("efetch", status=429, retry_after="0.4"))
    client = make_client(backoff_s=5.0)  # Retry-After, not the backoff, decides the wait
    assert [a.pmid for a in client.fetch(["30000000", "30000001"])] == ["30000000", "30000001"]
    first, second = fake_server.state.requests("efetch")
    assert (first.answered, second.answered) == (429, 200)
    assert 0.4 <= second.at - first.at < 2.0
    assert client.num_retries == 1


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (retry_after_seconds(header, now=lambda: now) or 0) <= 31
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_5xx_then_success_backs_off_exponentially(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(5), term="colds")
    fake_server.state.faults.extend([Fault("esearch", status=503), Fault("esearch", status=502)])
    client = make_client(backoff_s=0.1)
    assert len(client.search("colds")) == 5
    a, b, c = fake_server.state.requests("esearch")
    assert [a.answered, b.answered, c.answered] == [503, 502, 200]
    assert 0.1 <= b.at - a.at < 0.5 and 0.2 <= c.at - b.at < 0.7  # 0.1 then 0.2


def test_gives_up_after_max_attempts_and_does_not_retry_other_4xx(
        fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.faults.extend([Fault("esearch", status=500)] * 3)
    client = make_client(max_attempts=3)
    with pytest.raises(PubMedError, match="failed after 3 attempts: HTTP 500"):
        client.search("colds")
    fake_server.state.faults.append(Fault("esearch", status=400))
    with pytest.raises(PubMedError, match="answered HTTP 400"):
        client.search("colds")
    assert len(fake_server.state.log) == 4  # three tries, then one for the 400


def test_dropped_connection_is_retried(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(4), term="colds")
    fake_server.state.faults.append(Fault("efetch", drop=True))
    client = make_client()
    assert len(client.fetch(["30000000", "30000001", "30000002", "30000003"])) == 4
    assert [r.answered for r in fake_server.state.requests("efetch")] == [-1, 200]


def test_long_id_lists_go_by_post_in_batches(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(700), term="colds")
    client = make_client(batch_size=300, post_threshold=200)
    ids = [str(30_000_000 + n) for n in range(700)] + ["1"]  # an unknown PMID is simply absent
    articles = client.fetch(ids)
    assert [a.pmid for a in articles] == ids[:700]
    requests = fake_server.state.requests("efetch")
    assert [(r.method, len(r.params["id"].split(","))) for r in requests] == [("POST", 300), ("POST", 300), ("GET", 101)]
    with pytest.raises(Exception, match="not PMIDs: abc"):
        client.fetch(["abc"])


def test_bad_and_oversized_queries_are_user_errors(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    fake_server.state.add(generate_records(150), term="colds")
    client = make_client()
    with pytest.raises(PubMedQueryError, match="rejected the query") as caught:
        client.search("colds[badfield]")
    assert caught.value.field == "query" and caught.value.status == 400
    with pytest.raises(QueryTooLarge, match="matches 150 records, more than the 100") as too_large:
        client.search("colds", limit=100)
    assert too_large.value.count == 150
    assert client.search("nothing matches this") == []


def test_search_pages_through_more_than_one_esearch_page(fake_server: FakeEUtilsServer, make_client: MakeClient) -> None:
    records = generate_records(6_000, per_day=1_000)
    fake_server.state.add(records, term="colds")
    client = make_client()
    assert client.search("colds") == [r.pmid for r in records]
    starts = [r.params["retstart"] for r in fake_server.state.requests("esearch")]
    assert starts == ["0", "5000"]
    assert isinstance(records[0].edat, dt.date)
