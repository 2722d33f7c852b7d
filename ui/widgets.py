"""Streamlit pieces shared by the console pages: the API connection and message rendering.

It renders what the REST API returns (messages, citations, tool calls) and nothing else; pages own
their layout and their calls.
"""

from __future__ import annotations

import json
import os
from typing import Any

import streamlit as st

from ui.client import ApiClient, ApiError

JSON = dict[str, Any]
DEFAULT_API_URL = "http://127.0.0.1:8000"
RECORD_KEYS = ("order_id", "user_id")


def default_api_url() -> str:
    return os.environ.get("MOESAIC_API_URL") or DEFAULT_API_URL


def default_api_key() -> str:
    return os.environ.get("MOESAIC_UI_API_KEY") or os.environ.get("MOESAIC_BOOTSTRAP_API_KEY") or ""


def connection_sidebar() -> None:
    """API URL and key, editable in the sidebar (defaults from the environment)."""
    st.session_state.setdefault("api_url", default_api_url())
    st.session_state.setdefault("api_key", default_api_key())
    with st.sidebar.expander("API connection", expanded=not st.session_state["api_key"]):
        st.text_input("API URL", key="api_url")
        st.text_input("API key", key="api_key", type="password")


@st.cache_resource(show_spinner=False)
def _client(url: str, key: str) -> ApiClient:
    return ApiClient(url, key or None)


def get_client() -> ApiClient:
    url = st.session_state.get("api_url") or default_api_url()
    key = st.session_state.get("api_key", default_api_key())
    return _client(url.strip(), key.strip())


def show_error(exc: ApiError, what: str) -> None:
    if exc.status in (401, 403):
        st.error(f"Could not {what}: {exc}. Check the API key in the sidebar.")
    else:
        st.error(f"Could not {what}: {exc}")


# -- message rendering ------------------------------------------------------------------------------
def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def render_record_card(record: JSON) -> None:
    """An order or user record as a compact card (scalars as fields, lists as a table)."""
    key = next(k for k in RECORD_KEYS if k in record)
    kind = "Order" if key == "order_id" else "User"
    with st.container(border=True):
        status = f" · `{record['status']}`" if "status" in record else ""
        st.markdown(f"**{kind} {record[key]}**{status}")
        scalars = {k: v for k, v in record.items() if k not in (key, "status") and not isinstance(v, (list, dict))}
        nested = {k: v for k, v in record.items() if isinstance(v, (list, dict))}
        columns = st.columns(2)
        for i, (name, value) in enumerate(scalars.items()):
            columns[i % 2].markdown(f"{name.replace('_', ' ')}: **{value}**")
        for name, value in nested.items():
            if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
                st.markdown(f"{name.replace('_', ' ')}: " + ", ".join(str(v) for v in value.values() if v))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                st.caption(name.replace("_", " "))
                st.dataframe(value, hide_index=True)
            else:
                st.caption(name.replace("_", " "))
                st.json(value, expanded=False)


def render_tool_event(name: str, arguments: Any, output: Any = None, error: str | None = None) -> None:
    with st.expander(f"🔧 Tool call: {name}", expanded=False):
        st.caption("arguments")
        st.json(_as_json(arguments) or {}, expanded=True)
        if error:
            st.warning(f"Tool failed: {error}")
        if output is not None:
            st.caption("output")
            parsed = _as_json(output)
            if isinstance(parsed, dict) and any(k in parsed for k in RECORD_KEYS):
                render_record_card(parsed)
            elif isinstance(parsed, (dict, list)):
                st.json(parsed, expanded=False)
            else:
                st.code(str(parsed), language=None)


def render_citations(citations: list[JSON] | None) -> None:
    if not citations:
        return
    st.caption(f"Sources ({len(citations)})")
    for i, cite in enumerate(citations, start=1):
        index = cite.get("index", i)
        title = cite.get("title") or cite.get("document_id") or "source"
        with st.expander(f"[{index}] {title}"):
            st.caption(
                f"document `{cite.get('document_id')}` · chunk `{cite.get('chunk_id')}` · "
                f"characters {cite.get('start_char')}–{cite.get('end_char')}"
            )
            quote = str(cite.get("quote") or "")
            st.markdown("\n".join(f"> {line}" for line in quote.splitlines()) or "_(no quote)_")


def _avatar(message: JSON) -> str | None:
    author = str(message.get("author") or "")
    return "🧑‍💼" if author.startswith("operator") else None


def render_history(messages: list[JSON]) -> None:
    """A stored conversation: user and assistant turns, tool calls with their outputs, citations."""
    outputs = {m.get("tool_call_id"): m for m in messages if m.get("role") == "tool"}
    called: set[str] = set()
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        if role == "tool":
            if message.get("tool_call_id") not in called:  # an output whose call we did not see
                with st.chat_message("assistant"):
                    render_tool_event(message.get("name") or "tool", {}, message.get("content"))
            continue
        with st.chat_message(role if role in ("user", "assistant") else "assistant", avatar=_avatar(message)):
            if role == "assistant" and _avatar(message):
                st.caption(f"operator {message.get('author', '').removeprefix('operator').strip(':')}")
            for call in message.get("tool_calls") or []:
                called.add(call.get("id"))
                result = outputs.get(call.get("id")) or {}
                render_tool_event(call.get("name", "tool"), call.get("arguments"), result.get("content"))
            if message.get("content"):
                st.markdown(message["content"])
            render_citations(message.get("citations"))
