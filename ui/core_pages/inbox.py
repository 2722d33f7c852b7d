"""Operator inbox: conversations handed off by the bot; claim, reply, resolve or hand back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.client import ApiError
from ui.widgets import get_client, render_history, show_error

NOT_YET = "Human handoff is not available on this API yet: the operator endpoints answered 404."

client = get_client()
st.title("📥 Operator inbox")


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


try:
    items = client.list_inbox()
except ApiError as exc:
    _explain(exc, "load the inbox")
    st.stop()
if not items:
    st.success("Nothing waiting: no conversation is handed off to an operator.")
    st.stop()

st.dataframe(
    [{"app": c.get("app"), "title": c.get("title"), "state": c.get("state"), "operator": c.get("operator"),
      "summary": c.get("summary"), "updated": c.get("updated_at"), "id": c.get("id")} for c in items],
    hide_index=True,
)
by_id = {c["id"]: c for c in items}
conversation_id = st.selectbox(
    "Conversation", list(by_id), key="inbox_conversation",
    format_func=lambda i: f"[{by_id[i].get('state')}] {by_id[i].get('app')} · {by_id[i].get('title') or i[:8]}",
)
conv = by_id[conversation_id]
st.subheader(conv.get("title") or f"Conversation {conversation_id[:8]}")
st.caption(f"app `{conv.get('app')}` · state `{conv.get('state')}` · updated {conv.get('updated_at')}")
if conv.get("summary"):
    st.info(f"**Handoff summary:** {conv['summary']}")

claim, resolve, hand_back = st.columns(3)
if claim.button("✋ Claim", width="stretch", disabled=conv.get("state") != "handed_off"):
    act(lambda: client.claim(conversation_id), "claim the conversation", "Claimed")
if resolve.button("✅ Resolve", width="stretch"):
    act(lambda: client.resolve(conversation_id), "resolve the conversation", "Resolved")
if hand_back.button("🤖 Hand back to the bot", width="stretch"):
    act(lambda: client.hand_back(conversation_id), "hand the conversation back", "Handed back to the bot")

try:
    render_history(client.list_messages(conversation_id), app=conv.get("app"))
except ApiError as exc:
    show_error(exc, "load the conversation")

reply = st.chat_input("Reply as operator")
if reply:
    act(lambda: client.send_operator_message(conversation_id, reply), "send the reply", "Reply sent")
