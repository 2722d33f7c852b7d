"""A client for NCBI E-utilities (PubMed): ``esearch`` with the history server and ``efetch`` of XML.

``PubMedClient`` sends every request through a token bucket (3 requests/s, 10/s with an API key,
shared by the clients of one process), adds ``tool``, ``email`` and ``api_key``, and retries 429 and
5xx answers and dropped connections with exponential backoff, waiting what ``Retry-After`` asks
when the server says. ``efetch`` by PMIDs goes by POST past ``post_threshold`` ids (long URLs are
refused). Settings come from ``MOESAIC_PUBMED_*`` (``PubMedSettings``) or are passed in.

ESearch gives access to the first 10,000 records of a query only: ``search`` raises
``QueryTooLarge`` past that; ``pubmed_sync`` splits a large query by date instead.

Not here: XML parsing (``pubmed_xml``), incremental sync and storage (``pubmed_sync``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.articles import Article
from connectors.pubmed_xml import parse_articles
from connectors.rate_limit import TokenBucket, shared_limiter
from moesaic.errors import ConfigError, UpstreamError, UserError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ESEARCH_CAP = 10_000  # ESearch returns at most the first 10,000 records of a query
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# the client paces itself a little under the allowed rate: requests leave evenly spaced, but arrive
# with jitter, and exactly 1/rate apart a late one and an early one could land in the same second
RATE_HEADROOM = 0.95
DateType = Literal["edat", "mdat", "pdat"]


class PubMedSettings(BaseSettings):
    """How to reach E-utilities; every field reads ``MOESAIC_PUBMED_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MOESAIC_PUBMED_", frozen=True, extra="ignore")

    base_url: str = Field(default=DEFAULT_BASE_URL, description="E-utilities base URL (a fake server in tests).")
    api_key: str | None = Field(default=None, description="NCBI API key: 10 requests/s instead of 3.")
    tool: str = Field(default="moesaic", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str | None = Field(default=None, description="Contact address NCBI asks tools to send.")
    requests_per_second: float | None = Field(default=None, gt=0, le=10,
                                              description="Unset: 3/s, or 10/s with an API key.")
    timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20, description="Tries per request (429, 5xx, dropped connection).")
    backoff_s: float = Field(default=1.0, ge=0, description="Retry n waits backoff * 2**(n-1) unless Retry-After says.")
    max_backoff_s: float = Field(default=60.0, ge=0)
    batch_size: int = Field(default=500, ge=1, le=10_000, description="Records per efetch request.")
    post_threshold: int = Field(default=200, ge=1, description="efetch by id list uses POST past this many ids.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("api_key", "email", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def rate(self) -> float:
        return self.requests_per_second or (10.0 if self.api_key else 3.0)


def load_settings(**overrides: Any) -> PubMedSettings:
    """Settings from the environment and ``overrides``; a bad value raises ``ConfigError`` naming it."""
    try:
        return PubMedSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"MOESAIC_PUBMED_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"PubMed settings: {problems}") from exc


class PubMedError(UpstreamError):
    """E-utilities failed (after retries) or answered something unusable."""


class HistoryExpired(PubMedError):
    """The WebEnv/query_key of a search is no longer known to the server: search again."""


class QueryTooLarge(UserError):
    """A query matches more records than ESearch can page through (10,000)."""

    def __init__(self, message: str, *, count: int) -> None:
        super().__init__(message, field="query")
        self.count = count


class PubMedQueryError(UserError):
    """E-utilities rejected the query itself (syntax, unknown field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="query")


@dataclass(frozen=True)
class SearchResult:
    count: int
    webenv: str
    query_key: str
    pmids: tuple[str, ...]


@dataclass(frozen=True)
class DateRange:
    mindate: dt.date
    maxdate: dt.date
    datetype: DateType = "edat"

    def params(self) -> dict[str, str]:
        return {"datetype": self.datetype, "mindate": self.mindate.strftime("%Y/%m/%d"),
                "maxdate": self.maxdate.strftime("%Y/%m/%d")}


def retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)


class PubMedClient:
    """E-utilities over httpx: rate-limited, retried, with NCBI's identification parameters."""

    def __init__(self, settings: PubMedSettings | None = None, *, limiter: TokenBucket | None = None,
                 sleep: Callable[[float], None] = time.sleep, http: httpx.Client | None = None) -> None:
        self.settings = settings or load_settings()
        self.limiter = limiter or shared_limiter(self.settings.base_url, self.settings.api_key,
                                                 self.settings.rate * RATE_HEADROOM)
        self._sleep = sleep
        self._http = http or httpx.Client(base_url=self.settings.base_url, timeout=self.settings.timeout_s,
                                          headers={"User-Agent": f"{self.settings.tool} (moesaic PubMed connector)"})
        self.num_requests = 0  # attempts sent, retries included
        self.num_retries = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PubMedClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------
    def _identity(self) -> dict[str, str]:
        params = {"db": "pubmed", "tool": self.settings.tool}
        if self.settings.email:
            params["email"] = self.settings.email
        if self.settings.api_key:
            params["api_key"] = self.settings.api_key
        return params

    def request(self, endpoint: str, params: dict[str, str], *, post: bool = False) -> httpx.Response:
        """One E-utilities call (``esearch.fcgi`` ...), retried; raises ``PubMedError`` when it gives up."""
        fields = {**self._identity(), **params}
        settings = self.settings
        last_problem = ""
        for attempt in range(1, settings.max_attempts + 1):
            self.limiter.acquire()
            self.num_requests += 1
            wait: float | None = None
            try:
                if post:
                    response = self._http.post(endpoint, data=fields)
                else:
                    response = self._http.get(endpoint, params=fields)
            except httpx.TransportError as exc:  # refused, reset, dropped mid-body, timed out
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                last_problem = f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"
                if response.status_code not in RETRIED_STATUSES:
                    raise PubMedError(f"E-utilities {endpoint} answered {last_problem}")
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt == settings.max_attempts:
                break
            if wait is None:
                wait = settings.backoff_s * 2 ** (attempt - 1)
            wait = min(wait, settings.max_backoff_s)
            self.num_retries += 1
            log.warning("E-utilities %s attempt %d failed (%s); retrying in %.2fs", endpoint, attempt, last_problem, wait)
            self._sleep(wait)
        raise PubMedError(f"E-utilities {endpoint} failed after {settings.max_attempts} attempts: {last_problem}")

    # -- esearch ------------------------------------------------------------------------------
    def esearch(self, term: str, *, dates: DateRange | None = None, retstart: int = 0, retmax: int = 0,
                usehistory: bool = True) -> SearchResult:
        """Run a search; with ``usehistory`` the result stays on the server (``webenv``, ``query_key``)."""
        if not term.strip():
            raise PubMedQueryError("the query is empty")
        params = {"term": term, "retmode": "json", "retstart": str(retstart), "retmax": str(retmax)}
        if usehistory:
            params["usehistory"] = "y"
        if dates is not None:
            params.update(dates.params())
        response = self.request("esearch.fcgi", params, post=len(term) > 1_000)
        try:
            body = response.json()
            result = body["esearchresult"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PubMedError(f"esearch answered something that is not an ESearch result: {response.text[:200]!r}") from exc
        if "ERROR" in result or "error" in body:
            raise PubMedQueryError(f"PubMed rejected the query {term!r}: {result.get('ERROR') or body.get('error')}")
        try:
            return SearchResult(count=int(result["count"]), webenv=str(result.get("webenv", "")),
                                query_key=str(result.get("querykey", "")),
                                pmids=tuple(str(pmid) for pmid in result.get("idlist", [])))
        except (KeyError, ValueError) as exc:
            raise PubMedError(f"esearch result without a count: {result!r:.200}") from exc

    def search(self, term: str, *, dates: DateRange | None = None, limit: int = ESEARCH_CAP) -> list[str]:
        """The PMIDs of a query (most recent first, PubMed's default order), paged through the
        history server. Raises ``QueryTooLarge`` when the query matches more than ``limit``
        records (``limit`` is at most ESearch's cap of 10,000)."""
        limit = min(limit, ESEARCH_CAP)
        first = self.esearch(term, dates=dates, retmax=min(limit, 5_000))
        if first.count > limit:
            raise QueryTooLarge(
                f"the query matches {first.count:,} records, more than the {limit:,} that can be retrieved; "
                "narrow it (e.g. by date)", count=first.count)
        pmids = list(first.pmids)
        while len(pmids) < first.count:
            page = self.esearch(term, dates=dates, retstart=len(pmids), retmax=min(5_000, first.count - len(pmids)))
            if not page.pmids:
                break
            pmids.extend(page.pmids)
        return list(dict.fromkeys(pmids))

    # -- efetch -------------------------------------------------------------------------------
    def _efetch(self, params: dict[str, str], *, post: bool, origin: str) -> list[Article]:
        response = self.request("efetch.fcgi", {**params, "retmode": "xml", "rettype": "abstract"}, post=post)
        body = response.content
        head = body[:2_000]
        if b"<ERROR>" in head and b"<PubmedArticle" not in head:
            message = " ".join(body.decode("utf-8", "replace").split())[:300]
            if "query" in message.lower() or "webenv" in message.lower():
                raise HistoryExpired(f"efetch: the search history is gone: {message}")
            raise PubMedError(f"efetch answered an error: {message}")
        return parse_articles(body, origin=origin)

    def fetch_page(self, search: SearchResult, retstart: int, retmax: int) -> list[Article]:
        """Records ``retstart``..``retstart+retmax`` of a search kept on the history server."""
        return self._efetch({"WebEnv": search.webenv, "query_key": search.query_key,
                             "retstart": str(retstart), "retmax": str(retmax)},
                            post=False, origin=f"efetch records {retstart}-{retstart + retmax - 1}")

    def fetch(self, pmids: Sequence[str], *, batch_size: int | None = None) -> list[Article]:
        """The articles of ``pmids``, in batches (POST past ``post_threshold`` ids). Unknown PMIDs
        are simply absent from the result."""
        return [article for batch in self.fetch_batches(pmids, batch_size=batch_size) for article in batch]

    def fetch_batches(self, pmids: Sequence[str], *, batch_size: int | None = None) -> Iterator[list[Article]]:
        ids = list(dict.fromkeys(str(pmid).strip() for pmid in pmids))
        bad = [pmid for pmid in ids if not pmid.isdigit()]
        if bad:
            raise UserError(f"not PMIDs: {', '.join(bad[:5])}", field="pmids")
        size = batch_size or self.settings.batch_size
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            yield self._efetch({"id": ",".join(batch)}, post=len(batch) > self.settings.post_threshold,
                               origin=f"efetch of {len(batch)} PMIDs from {batch[0]}")
