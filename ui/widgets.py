"""Streamlit pieces shared by the core console pages: the API connection and message rendering.

It renders what the REST API returns (messages, citations, tool calls) and nothing else; pages own
their layout and their calls. A tool call's output goes to the view its app registered for that tool
(``ui/contributions.py``) and to a generic JSON view otherwise: no app's records are drawn here.
App pages do not import this module (they use ``ui.client`` only).
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from ui.client import ApiClient, ApiError, connect, default_api_key, default_api_url
from ui.contributions import tool_view

JSON = dict[str, Any]


def connection_defaults() -> None:
    """Put the environment's API URL and key in the session unless the sidebar already holds them."""
    st.session_state.setdefault("api_url", default_api_url())
    st.session_state.setdefault("api_key", default_api_key())


def connection_sidebar() -> None:
    """API URL and key, editable in the sidebar (defaults from the environment)."""
    connection_defaults()
    with st.sidebar.expander("API connection", expanded=not st.session_state["api_key"]):
        st.text_input("API URL", key="api_url")
        st.text_input("API key", key="api_key", type="password")


def get_client() -> ApiClient:
    return connect(st.session_state)


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


def _app_view(app: str | None, tool: str, output: Any) -> bool:
    """Draw ``output`` with the view ``app`` registered for ``tool``; False when there is none or it declines."""
    view = tool_view(app, tool)
    if view is None:
        return False
    try:
        return bool(view(output))
    except Exception as exc:  # an app's view must not break the chat; show the raw output instead
        st.warning(f"The {app} view of {tool} failed ({type(exc).__name__}: {exc}); showing the raw output.")
        return False


def render_tool_event(name: str, arguments: Any, output: Any = None, error: str | None = None, *,
                      app: str | None = None) -> None:
    """One tool call: its arguments, its error, and its output through ``app``'s view or as JSON/text."""
    with st.expander(f"🔧 Tool call: {name}", expanded=False):
        st.caption("arguments")
        st.json(_as_json(arguments) or {}, expanded=True)
        if error:
            st.warning(f"Tool failed: {error}")
        if output is not None:
            st.caption("output")
            parsed = _as_json(output)
            if _app_view(app, name, parsed):
                return
            if isinstance(parsed, (dict, list)):
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
            st.markdown(highlighted_quote(cite) or "_(no quote)_")


def _plain(text: str) -> str:
    """Text that Markdown shows as written (brackets would end a highlight, stars start emphasis)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|:" else ch for ch in text)


def highlighted_quote(cite: JSON) -> str:
    """The citation's quote as a Markdown block quote, with the sentences the answer rests on highlighted;
    cited sentences past the quote's end follow it."""
    quote = str(cite.get("quote") or "")
    start = int(cite.get("start_char") or 0)
    spans = sorted((int(s["start_char"]) - start, int(s["end_char"]) - start, str(s.get("text", "")))
                   for s in cite.get("sentences") or [])
    out, cursor, beyond = [], 0, []
    for begin, end, text in spans:
        if begin < cursor or end > len(quote) or quote[begin:end] != text:
            beyond.append(text)
            continue
        out.append(_plain(quote[cursor:begin]))
        out.append(f":orange-background[{_plain(text)}]")
        cursor = end
    out.append(_plain(quote[cursor:]))
    body = "".join(out)
    lines = [f"> {line}" for line in body.splitlines()] if body.strip() else []
    lines += [f"> … :orange-background[{_plain(text)}]" for text in beyond]
    return "\n".join(lines)


def _avatar(message: JSON) -> str | None:
    author = str(message.get("author") or "")
    return "🧑‍💼" if author.startswith("operator") else None


def operator_name(message: JSON) -> str:
    """The name an operator's message carries (the API's ``name``; older fakes put it after ``operator:``)."""
    return str(message.get("name") or str(message.get("author") or "").removeprefix("operator").strip(":"))


def render_history(messages: list[JSON], *, app: str | None = None) -> None:
    """A stored conversation of ``app``: user and assistant turns, tool calls with their outputs, citations."""
    outputs = {m.get("tool_call_id"): m for m in messages if m.get("role") == "tool"}
    called: set[str] = set()
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        if role == "tool":
            if message.get("tool_call_id") not in called:  # an output whose call we did not see
                with st.chat_message("assistant"):
                    render_tool_event(message.get("name") or "tool", {}, message.get("content"), app=app)
            continue
        with st.chat_message(role if role in ("user", "assistant") else "assistant", avatar=_avatar(message)):
            if role == "assistant" and _avatar(message):
                st.caption(f"operator {operator_name(message)}".strip())
            for call in message.get("tool_calls") or []:
                called.add(call.get("id"))
                result = outputs.get(call.get("id")) or {}
                render_tool_event(call.get("name", "tool"), call.get("arguments"), result.get("content"), app=app)
            if message.get("content"):
                st.markdown(message["content"])
            render_citations(message.get("citations"))
