"""A fake NCBI E-utilities server (FastAPI on uvicorn, loopback) for tests, benchmarks and offline demos.

It serves ``esearch.fcgi`` (JSON, with a history server: WebEnv/query_key, retstart/retmax, date
filters on ``edat``/``mdat``/``pdat``) and ``efetch.fcgi`` (PubMed XML by id list, GET or POST, or
from the history server) over records that the caller provides as XML fragments (``FakeRecord``),
for queries the caller defines (``FakeEUtils.queries``: term -> PMIDs). It can misbehave on purpose:
``faults`` holds the next answers to give instead of the real one (an HTTP status with an optional
``Retry-After``, or a connection dropped mid-body); ``max_rate`` answers 429 to a client that sends
more requests in one second than allowed, as NCBI does. Every request is logged with its arrival time.

Not for production: no authentication, everything in memory. ``generate_records`` makes synthetic
articles (for the sync benchmark).
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

XML_HEAD = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
            '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n')
XML_TAIL = "</PubmedArticleSet>\n"
GET_ID_LIMIT = 200  # GET with more ids is refused (414), as long URLs are by real servers


@dataclass(frozen=True)
class FakeRecord:
    pmid: str
    xml: str  # one <PubmedArticle> element
    edat: dt.date  # when it entered PubMed
    mdat: dt.date  # when it was last modified


@dataclass(frozen=True)
class Fault:
    """The next answer of ``endpoint`` ("esearch", "efetch" or "*"): ``status`` with ``retry_after``,
    or ``drop`` (headers and part of the body sent, then the connection closed)."""

    endpoint: str = "*"
    status: int = 503
    retry_after: str | None = None
    drop: bool = False


@dataclass
class LoggedRequest:
    at: float  # time.monotonic() on arrival
    method: str
    endpoint: str
    params: dict[str, str]
    answered: int = 0


@dataclass
class FakeEUtils:
    """The server's state; tests change it between requests."""

    records: dict[str, FakeRecord] = field(default_factory=dict)
    queries: dict[str, list[str]] = field(default_factory=dict)  # term -> PMIDs, in the order searches return
    faults: collections.deque[Fault] = field(default_factory=collections.deque)
    max_rate: float | None = None  # requests per second (per api_key) before 429
    log: list[LoggedRequest] = field(default_factory=list)
    history: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # WebEnv -> query_key -> PMIDs
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, records: list[FakeRecord], *, term: str | None = None) -> None:
        for record in records:
            self.records[record.pmid] = record
        if term is not None:
            self.queries.setdefault(term, []).extend(r.pmid for r in records if r.pmid not in self.queries.get(term, []))

    def requests(self, endpoint: str | None = None) -> list[LoggedRequest]:
        return [r for r in self.log if endpoint is None or r.endpoint == endpoint]

    def forget_history(self) -> None:
        """Expire every WebEnv (what NCBI does after some idle time)."""
        self.history.clear()

    def _search(self, params: dict[str, str]) -> list[str]:
        pmids = list(self.queries.get(params.get("term", ""), []))
        if "mindate" in params or "maxdate" in params:
            low = _date(params.get("mindate"), dt.date.min)
            high = _date(params.get("maxdate"), dt.date.max)
            datetype = params.get("datetype", "pdat")
            pmids = [p for p in pmids if low <= _record_date(self.records[p], datetype) <= high]
        return pmids


def _date(value: str | None, default: dt.date) -> dt.date:
    if not value:
        return default
    parts = [int(part) for part in value.replace("-", "/").split("/")]
    return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _record_date(record: FakeRecord, datetype: str) -> dt.date:
    return record.mdat if datetype == "mdat" else record.edat


class DroppedResponse(Response):
    """Sends the headers and the start of a long body, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/xml"), (b"content-length", b"100000")]})
        await send({"type": "http.response.body", "body": XML_HEAD.encode(), "more_body": True})
        raise ConnectionAbortedError("fake E-utilities: connection dropped on purpose")


def create_app(state: FakeEUtils) -> FastAPI:
    app = FastAPI(title="fake E-utilities")

    async def params_of(request: Request) -> dict[str, str]:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({key: str(value) for key, value in form.items()})
        return params

    def preamble(request: Request, endpoint: str, params: dict[str, str]) -> tuple[LoggedRequest, Response | None]:
        """Log the request; answer a queued fault or a 429 over the rate, else None."""
        now = time.monotonic()
        entry = LoggedRequest(now, request.method, endpoint, params)
        with state.lock:
            state.log.append(entry)
            if state.max_rate is not None:
                key = params.get("api_key", "")
                recent = [r for r in state.log[:-1] if r.params.get("api_key", "") == key and now - r.at < 1.0]
                if len(recent) >= state.max_rate:
                    entry.answered = 429
                    return entry, JSONResponse({"error": "API rate limit exceeded", "count": str(len(recent) + 1)}, 429,
                                        headers={"Retry-After": "1"})
            fault = state.faults[0] if state.faults and state.faults[0].endpoint in ("*", endpoint) else None
            if fault is not None:
                state.faults.popleft()
        if fault is None:
            return entry, None
        if fault.drop:
            entry.answered = -1
            return entry, DroppedResponse()
        entry.answered = fault.status
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return entry, Response(f"fake fault {fault.status}", fault.status, headers=headers, media_type="text/plain")

    @app.api_route("/esearch.fcgi", methods=["GET", "POST"])
    async def esearch(request: Request) -> Response:
        params = await params_of(request)
        entry, early = preamble(request, "esearch", params)
        if early is not None:
            return early
        term = params.get("term", "")
        if "[badfield]" in term:
            entry.answered = 200
            return JSONResponse({"esearchresult": {"ERROR": f"Invalid query: {term}"}})
        with state.lock:
            pmids = state._search(params)
            result: dict[str, Any] = {"count": str(len(pmids))}
            if params.get("usehistory") == "y":
                webenv = params.get("WebEnv") or f"MCID_fake_{random.randrange(1 << 48):012x}"
                stored = state.history.setdefault(webenv, {})
                query_key = str(len(stored) + 1)
                stored[query_key] = pmids
                result.update(webenv=webenv, querykey=query_key)
        start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
        result.update(retstart=str(start), retmax=str(size), idlist=pmids[start : start + size])
        entry.answered = 200
        return JSONResponse({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result})

    @app.api_route("/efetch.fcgi", methods=["GET", "POST"])
    async def efetch(request: Request) -> Response:
        params = await params_of(request)
        entry, early = preamble(request, "efetch", params)
        if early is not None:
            return early
        if "id" in params:
            pmids = [p for p in params["id"].split(",") if p]
            if request.method == "GET" and len(pmids) > GET_ID_LIMIT:
                entry.answered = 414
                return Response("URI too long: use POST", 414, media_type="text/plain")
        else:
            stored = state.history.get(params.get("WebEnv", ""), {}).get(params.get("query_key", ""))
            if stored is None:
                entry.answered = 200
                return Response("<eFetchResult><ERROR>Unable to obtain query #"
                                f"{escape(params.get('query_key', ''))}</ERROR></eFetchResult>", media_type="text/xml")
            start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
            pmids = stored[start : start + size]
        body = XML_HEAD + "".join(state.records[p].xml for p in pmids if p in state.records) + XML_TAIL
        entry.answered = 200
        return Response(body, media_type="text/xml")

    return app


class FakeEUtilsServer:
    """Runs ``create_app(state)`` on 127.0.0.1 at a free port in a background thread."""

    def __init__(self, state: FakeEUtils | None = None) -> None:
        self.state = state or FakeEUtils()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(create_app(self.state), log_level="critical", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "FakeEUtilsServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake E-utilities server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> "FakeEUtilsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- synthetic records -----------------------------------------------------------------------------
_WORDS = ("cohort trial patients therapy dose risk outcome mortality biomarker expression receptor "
          "inflammation infection vaccine cancer tumour cell protein gene mutation signalling model "
          "association incidence prevalence survival treatment placebo efficacy safety adverse").split()
_LABELS = ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS")
_MESH = ("Humans", "Female", "Male", "Adult", "Aged", "Middle Aged", "Risk Factors", "Treatment Outcome",
         "Cohort Studies", "Neoplasms", "Inflammation", "Vaccination", "Prognosis", "Mutation")


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(10, 22))
    return " ".join(words).capitalize() + "."


def synthetic_article_xml(pmid: str, *, rng: random.Random, year: int = 2024, retracted: bool = False) -> str:
    """One plausible <PubmedArticle> (structured abstract, authors, MeSH, DOI) with random text."""
    sections = "".join(
        f'<AbstractText Label="{label}" NlmCategory="{label}">{" ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))}</AbstractText>'
        for label in _LABELS)
    authors = "".join(f"<Author ValidYN=\"Y\"><LastName>Author{rng.randint(1, 999)}</LastName><ForeName>A</ForeName>"
                      f"<Initials>A</Initials></Author>" for _ in range(rng.randint(1, 6)))
    mesh = "".join(f'<MeshHeading><DescriptorName UI="D{n:06d}" MajorTopicYN="N">{term}</DescriptorName></MeshHeading>'
                   for n, term in enumerate(rng.sample(_MESH, 4)))
    types = '<PublicationType UI="D016428">Journal Article</PublicationType>'
    comments = ""
    if retracted:
        types += '<PublicationType UI="D016441">Retracted Publication</PublicationType>'
        comments = ('<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn"><RefSource>Fake J. '
                    f'{year + 1}</RefSource><PMID Version="1">9{pmid}</PMID></CommentsCorrections></CommentsCorrectionsList>')
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        f"<DateRevised><Year>{year}</Year><Month>06</Month><Day>01</Day></DateRevised>"
        f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate><Year>{year}</Year>'
        f"<Month>Mar</Month><Day>{rng.randint(1, 28)}</Day></PubDate></JournalIssue><Title>Journal of Synthetic Results</Title>"
        f"</Journal><ArticleTitle>{_sentence(rng)}</ArticleTitle>"
        f'<ELocationID EIdType="doi" ValidYN="Y">10.5555/fake.{pmid}</ELocationID>'
        f"<Abstract>{sections}</Abstract><AuthorList CompleteYN=\"Y\">{authors}</AuthorList>"
        f"<PublicationTypeList>{types}</PublicationTypeList></Article>{comments}"
        f"<MeshHeadingList>{mesh}</MeshHeadingList></MedlineCitation>"
        f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData>'
        "</PubmedArticle>\n")


def generate_records(num_records: int, *, first_pmid: int = 30_000_000, start: dt.date = dt.date(2024, 1, 1),
                     per_day: int = 100, seed: int = 0) -> list[FakeRecord]:
    """``num_records`` synthetic records, ``per_day`` of them entering PubMed each day from ``start``."""
    rng = random.Random(seed)
    records = []
    for n in range(num_records):
        pmid = str(first_pmid + n)
        day = start + dt.timedelta(days=n // per_day)
        records.append(FakeRecord(pmid, synthetic_article_xml(pmid, rng=rng, year=day.year, retracted=n % 997 == 0),
                                  edat=day, mdat=day))
    return records
