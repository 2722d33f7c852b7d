"""``/docs`` and ``/redoc`` load every script and style from the API's own origin (no CDN, no fonts)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from moesaic.api.main import create_app


class Assets(HTMLParser):
    """Every URL a page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.others: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.scripts.append(str(values["src"]))
        elif tag in ("link", "img") and (values.get("href") or values.get("src")):
            self.others.append(str(values.get("href") or values.get("src")))


def same_origin(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())  # no platform needed: the pages and the schema are static


@pytest.mark.parametrize(("page", "bundle"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_their_scripts_from_our_origin(client: TestClient, page: str, bundle: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", response.text), "the page refers to another origin"
    assets = Assets()
    assets.feed(response.text)
    assert [src.rsplit("/", 1)[1] for src in assets.scripts] == [bundle]
    assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text
    if page == "/docs":
        assert '"validatorUrl": null' in response.text  # no badge fetched from the online validator
    for url in assets.scripts + assets.others:
        assert same_origin(url), f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url in assets.scripts:
            assert "javascript" in asset.headers["content-type"], url
            assert len(asset.content) > 100_000, f"{url} is not the real bundle"


def test_the_schema_the_pages_read_is_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_pages_are_not_api_operations(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths) and not any(path.startswith("/docs-assets") for path in paths)
