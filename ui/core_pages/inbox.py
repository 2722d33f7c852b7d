"""Operator inbox (the desk): conversations handed off by the bot; claim, reply, resolve or hand back.

The list and the open conversation refresh by themselves (``st.fragment(run_every=...)``, every
``MOESAIC_UI_INBOX_REFRESH_S`` seconds by default, changeable in the sidebar). Each conversation shows how long
its customer has waited, who the customer is and which operator (by name) holds it. Beside the open
conversation, its app's desk panel (``DESK_PANEL`` of the app's console contribution) shows the customer's
records and the app's actions. The "Search" tab finds any conversation, resolved ones included, by words,
customer and state, a page at a time. API calls only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.client import ApiError
from ui.contributions import desk_panel
from ui.widgets import get_client, render_history, show_error

NOT_YET = "Human handoff is not available on this API yet: the operator endpoints answered 404."
STATES = ("handed_off", "claimed", "resolved", "active")
PAGE_SIZE = 20


def refresh_default() -> int:
    try:
        return max(2, min(300, int(os.environ.get("MOESAIC_UI_INBOX_REFRESH_S", "10"))))
    except ValueError:
        return 10


def waited(seconds: Any) -> str:
    """``125`` -> ``2 min``; None -> ``answered``."""
    if not isinstance(seconds, (int, float)):
        return "answered"
    minutes, hours = int(seconds) // 60, int(seconds) // 3600
    if hours:
        return f"{hours} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"waiting": waited(c.get("waiting_seconds")), "customer": c.get("customer") or "—",
             "operator": c.get("operator") or "—", "state": c.get("state"), "app": c.get("app"),
             "title": c.get("title"), "summary": c.get("summary"), "id": c.get("id")} for c in items]


def _explain(exc: ApiError, what: str) -> None:
    if exc.is_not_found:
        st.info(NOT_YET)
    else:
        show_error(exc, what)


def act(call: Callable[[], Any], what: str, done: str) -> None:
    try:
        call()
    except ApiError as exc:
        _explain(exc, what)
        return
    st.toast(done)
    st.rerun()


def waiting_list() -> None:
    """The inbox table and the choice of conversation; a new choice redraws the whole page."""
    try:
        items = client.list_inbox()
    except ApiError as exc:
        _explain(exc, "load the inbox")
        st.session_state["inbox_items"] = []
        return
    st.session_state["inbox_items"] = items
    if not items:
        st.success("Nothing waiting: no conversation is handed off to an operator.")
    else:
        st.dataframe(rows(items), hide_index=True)
        by_id = {c["id"]: c for c in items}
        st.selectbox("Conversation", list(by_id), key="inbox_conversation", format_func=lambda i: (
            f"[{by_id[i].get('state')}] {by_id[i].get('customer') or 'unidentified'} · waiting "
            f"{waited(by_id[i].get('waiting_seconds'))} · {by_id[i].get('title') or i[:8]}"))
    shown = st.session_state.get("inbox_shown")
    if items and st.session_state.get("inbox_conversation") != shown and shown is not None:
        st.rerun()  # another conversation was chosen (or the chosen one left the inbox): redraw the page


def conversation_view(conversation_id: str, app: str | None) -> None:
    try:
        render_history(client.list_messages(conversation_id), app=app)
    except ApiError as exc:
        show_error(exc, "load the conversation")


def search_tab() -> None:
    with st.form("inbox_search"):
        text, customer = st.columns(2)
        q = text.text_input("Words", key="search_text")
        who = customer.text_input("Customer id", key="search_customer")
        states = st.multiselect("States", STATES, default=["resolved"], key="search_states")
        submitted = st.form_submit_button("🔍 Search")
    if submitted:
        st.session_state["search_page"] = 0
    page = int(st.session_state.get("search_page", 0))
    try:
        found = client.search_conversations(text=q, customer=who, states=states, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    except ApiError as exc:
        _explain(exc, "search the conversations")
        return
    st.caption(f"{found.get('total', 0)} conversations · page {page + 1}")
    if not found.get("data"):
        st.info("No conversation matches.")
        return
    st.dataframe(rows(found["data"]), hide_index=True)
    back, forward = st.columns(2)
    if back.button("← Newer", disabled=page == 0, key="search_newer"):
        st.session_state["search_page"] = page - 1
        st.rerun()
    if forward.button("Older →", disabled=not found.get("has_more"), key="search_older"):
        st.session_state["search_page"] = page + 1
        st.rerun()
    by_id = {c["id"]: c for c in found["data"]}
    chosen = st.selectbox("Open", list(by_id), key="search_open",
                          format_func=lambda i: f"[{by_id[i].get('state')}] {by_id[i].get('customer') or '—'} · {by_id[i].get('title') or i[:8]}")
    conversation_view(chosen, by_id[chosen].get("app"))


client = get_client()
st.title("📥 Operator inbox")
refresh_s = st.sidebar.number_input("Inbox refresh (seconds)", min_value=2, max_value=300, value=refresh_default(),
                                    key="inbox_refresh_s")
waiting, search = st.tabs(["Waiting", "Search"])
with search:
    search_tab()
with waiting:
    st.fragment(waiting_list, run_every=float(refresh_s))()
    items = {c["id"]: c for c in st.session_state.get("inbox_items") or []}
    conversation_id = st.session_state.get("inbox_conversation")
    st.session_state["inbox_shown"] = conversation_id
    conv = items.get(conversation_id or "")
    if conv is not None:
        st.subheader(conv.get("title") or f"Conversation {conversation_id[:8]}")
        operator = f" · held by **{conv['operator']}**" if conv.get("operator") else ""
        st.caption(f"app `{conv.get('app')}` · state `{conv.get('state')}` · customer `{conv.get('customer') or 'unidentified'}` · "
                   f"waiting {waited(conv.get('waiting_seconds'))}{operator}")
        if conv.get("summary"):
            st.info(f"**Handoff summary:** {conv['summary']}")
        claim, resolve, hand_back = st.columns(3)
        if claim.button("✋ Claim", width="stretch", disabled=conv.get("state") != "handed_off"):
            act(lambda: client.claim(conversation_id), "claim the conversation", "Claimed")
        if resolve.button("✅ Resolve", width="stretch"):
            act(lambda: client.resolve(conversation_id), "resolve the conversation", "Resolved")
        if hand_back.button("🤖 Hand back to the bot", width="stretch"):
            act(lambda: client.hand_back(conversation_id), "hand the conversation back", "Handed back to the bot")
        panel = desk_panel(conv.get("app"))
        talk, side = st.columns([3, 2]) if panel else (st.container(), None)
        with talk:
            st.fragment(conversation_view, run_every=float(refresh_s))(conversation_id, conv.get("app"))
        if panel is not None and side is not None:
            with side:
                try:
                    panel(conv, client)
                except Exception as exc:  # an app's panel must not take the desk down
                    st.warning(f"The {conv.get('app')} desk panel failed ({type(exc).__name__}: {exc}).")
        reply = st.chat_input("Reply as operator")
        if reply:
            act(lambda: client.send_operator_message(conversation_id, reply), "send the reply", "Reply sent")
