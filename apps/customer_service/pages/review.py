"""Case review: what the customer_service bot looked up and changed in one conversation.

For an operator checking a conversation before taking it over or closing it: the changes the bot
made (the tools ``GET /v1/apps`` lists as ``write_tools``), the records it read (order and user
cards), and the calls that failed. It reads the REST API only (apps, conversations, messages) and
changes nothing. Streamlit, ``ui.client`` and this package only.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from apps.customer_service.pages.cards import order_card, user_card
from ui.client import ApiError, connect

APP = "customer_service"


def _decoded(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each tool call of a stored conversation with its output, in order."""
    outputs = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    return [{"name": call.get("name", "tool"), "arguments": _decoded(call.get("arguments")) or {},
             "output": _decoded(outputs.get(call.get("id")))}
            for m in messages if m.get("role") == "assistant" for call in m.get("tool_calls") or []]


def show_call(call: dict[str, Any]) -> None:
    output = call["output"]
    if not (order_card(output) or user_card(output)):
        st.code(output if isinstance(output, str) else json.dumps(output, indent=1), language=None)


client = connect(st.session_state)
st.title("🔎 Case review")
try:
    app = next((a for a in client.list_apps() if a.get("name") == APP), None)
    conversations = client.list_conversations(APP) if app else []
except ApiError as exc:
    st.error(f"Could not load the customer_service conversations: {exc}")
    st.stop()
if app is None:
    st.info("This API key may not use customer_service.")
    st.stop()
if not conversations:
    st.info("No customer_service conversations yet: chat with the app to start one.")
    st.stop()

by_id = {c["id"]: c for c in conversations}
conversation_id = st.selectbox(
    "Conversation", list(by_id), key="cs_review_conversation",
    format_func=lambda i: f"{by_id[i].get('title') or i[:8]} · {by_id[i].get('state')} · {str(by_id[i].get('updated_at', ''))[:16]}",
)
try:
    calls = tool_calls(client.list_messages(conversation_id))
except ApiError as exc:
    st.error(f"Could not load the conversation: {exc}")
    st.stop()

writes = set(app.get("write_tools") or [])
failed = [c for c in calls if isinstance(c["output"], str) and c["output"].startswith("Error")]
changes = [c for c in calls if c["name"] in writes and c not in failed]
reads = [c for c in calls if c["name"] not in writes and c not in failed]
num_changes, num_reads, num_failed = st.columns(3)
num_changes.metric("Changes", len(changes))
num_reads.metric("Lookups", len(reads))
num_failed.metric("Failed calls", len(failed))
if not calls:
    st.info("The bot called no tools in this conversation.")

if changes:
    st.subheader("Changes made")
    for call in changes:
        st.markdown(f"**{call['name']}** `{json.dumps(call['arguments'])}`")
        show_call(call)
if reads:
    st.subheader("Records looked up")
    for call in reads:
        st.caption(f"{call['name']} `{json.dumps(call['arguments'])}`")
        show_call(call)
if failed:
    st.subheader("Failed calls")
    for call in failed:
        st.warning(f"{call['name']} `{json.dumps(call['arguments'])}`: {call['output']}")
