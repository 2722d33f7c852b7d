"""A small, typed httpx client for the Moesaic REST API, used by the operator console and app pages.

It speaks HTTP only: it never imports ``moesaic``. Every non-2xx answer becomes an ``ApiError``
carrying the API's own ``{"error": {...}}`` message, so pages can show it with ``st.error``.
It holds no Streamlit code: ``connect(st.session_state)`` reads the connection the console's
sidebar keeps (``api_url``, ``api_key``) from any mapping and returns one shared client per
URL and key.

App pages (see ``ui/contributions.py``) import it as ``from ui.client import ApiError, connect``:
``ui`` is installed with the project (pyproject's packages), so this works in any process.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["ApiClient", "ApiError", "StreamEvent", "TurnResult", "connect", "default_api_key", "default_api_url"]

JSON = dict[str, Any]
DEFAULT_API_URL = "http://127.0.0.1:8000"


def default_api_url() -> str:
    return os.environ.get("MOESAIC_API_URL") or DEFAULT_API_URL


def default_api_key() -> str:
    return os.environ.get("MOESAIC_UI_API_KEY") or os.environ.get("MOESAIC_BOOTSTRAP_API_KEY") or ""


def connect(settings: Mapping[Any, Any]) -> ApiClient:
    """The client for the connection in ``settings`` (``api_url``, ``api_key``; the environment's
    defaults where they are missing). Pass ``st.session_state``; clients are shared per URL and key."""
    url = str(settings.get("api_url") or default_api_url()).strip()
    key = str(settings.get("api_key", default_api_key()) or "").strip()
    return _shared_client(url, key)


@functools.lru_cache(maxsize=32)
def _shared_client(url: str, key: str) -> ApiClient:
    return ApiClient(url, key or None)


class ApiError(Exception):
    """The API answered with an error, or could not be reached (``status`` is 0 then)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, url: str = "") -> None:
        self.status = status
        self.message = message
        self.code = code
        self.url = url
        super().__init__(str(self))

    @property
    def is_not_found(self) -> bool:
        return self.status in (404, 405)

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        if self.status == 0:
            return f"API unreachable{where}: {self.message}"
        return f"API error {self.status}{where}: {self.message}"


@dataclass(frozen=True)
class StreamEvent:
    """One parsed SSE chunk: a content ``delta``, a ``tool`` event, or the final ``citations``."""

    conversation_id: str | None
    delta: str = ""
    tool: JSON | None = None
    citations: list[JSON] | None = None
    finish_reason: str | None = None
    state: str | None = None


@dataclass
class TurnResult:
    """What a streamed turn left behind once the generator is exhausted."""

    conversation_id: str | None = None
    text: str = ""
    citations: list[JSON] = field(default_factory=list)
    tool_events: list[JSON] = field(default_factory=list)
    state: str | None = None


def _error_from(response: httpx.Response) -> ApiError:
    message = response.reason_phrase or "request failed"
    code = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = err.get("code") or err.get("type")
        elif "detail" in body:  # plain FastAPI errors
            message = json.dumps(body["detail"]) if not isinstance(body["detail"], str) else body["detail"]
    elif response.text:
        message = response.text[:300]
    return ApiError(response.status_code, message, code=code, url=str(response.request.url.path))


class ApiClient:
    """Blocking client for one API base URL and key."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}", url=f"{self.base_url}{path}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _data(self, path: str, **kwargs: Any) -> list[JSON]:
        return list(self._json("GET", path, **kwargs).get("data", []))

    # -- health and metrics -----------------------------------------------------------------------
    def health(self) -> JSON:
        return self._json("GET", "/healthz") or {}

    def metrics_text(self) -> str:
        return self._request("GET", "/metrics").text

    # -- apps and conversations -------------------------------------------------------------------
    def list_apps(self) -> list[JSON]:
        return self._data("/v1/apps")

    def list_conversations(self, app: str) -> list[JSON]:
        return self._data(f"/v1/apps/{app}/conversations")

    def create_conversation(self, app: str, title: str | None = None) -> JSON:
        body = {"title": title} if title else {}
        return self._json("POST", f"/v1/apps/{app}/conversations", json=body)

    def list_messages(self, conversation_id: str) -> list[JSON]:
        return self._data(f"/v1/conversations/{conversation_id}/messages")

    # -- chat -------------------------------------------------------------------------------------
    def _chat_body(self, app: str, content: str, conversation_id: str | None, stream: bool,
                   knowledge_base: str | None = None) -> JSON:
        body: JSON = {"model": app, "messages": [{"role": "user", "content": content}], "stream": stream}
        if conversation_id:
            body["conversation_id"] = conversation_id
        if knowledge_base:
            body["knowledge_base"] = knowledge_base
        return body

    def chat(self, app: str, content: str, conversation_id: str | None = None, knowledge_base: str | None = None) -> JSON:
        """Non-streaming chat completion (OpenAI shape plus conversation_id, citations, tool_events)."""
        return self._json("POST", "/v1/chat/completions",
                          json=self._chat_body(app, content, conversation_id, False, knowledge_base))

    def stream_chat(self, app: str, content: str, conversation_id: str | None = None,
                    knowledge_base: str | None = None) -> Iterator[StreamEvent]:
        """Yield parsed SSE chunks until ``data: [DONE]``; raise ApiError on an error status.
        ``knowledge_base``: search that one instead of the app's (None: the app's, or the conversation's)."""
        body = self._chat_body(app, content, conversation_id, True, knowledge_base)
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    chunk = json.loads(payload)
                    if isinstance(chunk.get("error"), dict):  # a failure after the first byte, in-band
                        err = chunk["error"]
                        code = err.get("code")
                        raise ApiError(code if isinstance(code, int) else 502, str(err.get("message")),
                                       code=str(err.get("type") or code), url="/v1/chat/completions")
                    yield _parse_chunk(chunk)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"{type(exc).__name__}: {exc}", url=f"{self.base_url}/v1/chat/completions") from exc

    # -- an app's own routes, and jobs -------------------------------------------------------------
    def call_app(self, app: str, method: str, path: str, **kwargs: Any) -> Any:
        """Call one of ``app``'s own routes, ``/v1/apps/<app><path>`` (``json=``, ``params=`` as httpx):
        the decoded JSON body, or None when there is none. App pages use it for their endpoints."""
        return self._json(method, f"/v1/apps/{app}{path}", **kwargs)

    def download_app(self, app: str, path: str, **kwargs: Any) -> bytes:
        """The raw body of ``GET /v1/apps/<app><path>`` (a file to download: JSONL, a zip)."""
        return self._request("GET", f"/v1/apps/{app}{path}", **kwargs).content

    def get_job(self, job_id: str) -> JSON:
        """One job of the key's tenant (``GET /v1/jobs/{id}``): state, progress, result or error."""
        return self._json("GET", f"/v1/jobs/{job_id}") or {}

    # -- knowledge --------------------------------------------------------------------------------
    def list_knowledge_bases(self) -> list[JSON]:
        return self._data("/v1/knowledge-bases")

    def list_documents(self, kb: str) -> JSON:
        """``{"data": [...], "counts": {...}}`` for one knowledge base."""
        return self._json("GET", f"/v1/knowledge-bases/{kb}/documents") or {"data": [], "counts": {}}

    def upload_document(self, kb: str, filename: str, content: bytes, mime_type: str | None = None) -> JSON:
        files = {"file": (filename, content, mime_type or "application/octet-stream")}
        return self._json("POST", f"/v1/knowledge-bases/{kb}/documents", files=files)

    def delete_document(self, kb: str, document_id: str) -> None:
        self._request("DELETE", f"/v1/knowledge-bases/{kb}/documents/{document_id}")

    # -- operator inbox (human handoff) -----------------------------------------------------------
    def list_inbox(self) -> list[JSON]:
        return self._data("/v1/inbox")

    def claim(self, conversation_id: str) -> JSON:
        return self._json("POST", f"/v1/conversations/{conversation_id}/claim")

    def send_operator_message(self, conversation_id: str, content: str) -> JSON:
        return self._json("POST", f"/v1/conversations/{conversation_id}/operator-messages", json={"content": content})

    def resolve(self, conversation_id: str) -> JSON:
        return self._json("POST", f"/v1/conversations/{conversation_id}/resolve")

    def hand_back(self, conversation_id: str) -> JSON:
        return self._json("POST", f"/v1/conversations/{conversation_id}/handback")

    def hand_off(self, conversation_id: str, summary: str) -> JSON:
        return self._json("POST", f"/v1/conversations/{conversation_id}/handoff", json={"summary": summary})

    def search_conversations(self, *, text: str = "", customer: str = "", states: list[str] | tuple[str, ...] = (),
                             app: str | None = None, limit: int = 20, offset: int = 0) -> JSON:
        """One page of ``GET /v1/conversations``: ``{"data", "total", "limit", "offset", "has_more"}``."""
        params: dict[str, Any] = {"q": text, "customer": customer, "state": list(states), "limit": limit, "offset": offset}
        if app:
            params["app"] = app
        return self._json("GET", "/v1/conversations", params=params) or {"data": [], "total": 0, "has_more": False}


def _parse_chunk(chunk: JSON) -> StreamEvent:
    choices = chunk.get("choices") or [{}]
    choice = choices[0] if choices else {}
    delta = (choice.get("delta") or {}).get("content") or ""
    event = chunk.get("moesaic_event")
    return StreamEvent(
        conversation_id=chunk.get("conversation_id"),
        delta=delta,
        tool=event if isinstance(event, dict) and event.get("type") == "tool_call" else None,
        citations=chunk.get("citations"),
        finish_reason=choice.get("finish_reason"),
        state=chunk.get("conversation_state"),
    )


def collect_stream(events: Iterator[StreamEvent], result: TurnResult) -> Iterator[str]:
    """Yield text deltas for ``st.write_stream`` while filling ``result`` with everything else."""
    for event in events:
        if event.conversation_id:
            result.conversation_id = event.conversation_id
        if event.tool is not None:
            result.tool_events.append(event.tool)
        if event.state:
            result.state = event.state
        if event.citations:
            result.citations = list(event.citations)
        if event.delta:
            result.text += event.delta
            yield event.delta
