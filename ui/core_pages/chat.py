"""Chat with any registered app: conversations, streamed answers, tool calls and citations."""

from __future__ import annotations

from collections.abc import Iterator

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ui.client import ApiError, StreamEvent, TurnResult, collect_stream
from ui.widgets import get_client, render_citations, render_history, render_tool_event, show_error


WITH_OPERATOR = ("handed_off", "claimed")


def _select(conversation_id: str | None) -> None:
    st.session_state["conversation_id"] = conversation_id


def _live_tools(events: Iterator[StreamEvent], box: DeltaGenerator, app: str) -> Iterator[StreamEvent]:
    """Pass events through, drawing each tool call of ``app`` into ``box`` as soon as it arrives."""
    for event in events:
        if event.tool is not None:
            with box:
                render_tool_event(event.tool.get("name", "tool"), event.tool.get("arguments"),
                                  event.tool.get("output"), event.tool.get("error"), app=app)
        yield event


client = get_client()
st.title("💬 Chat")
try:
    apps = [a for a in client.list_apps() if a.get("chat", True)]  # apps without a chat part say "chat": false
except ApiError as exc:
    show_error(exc, "list apps")
    st.stop()
if not apps:
    st.info("No chat app is registered on this API for this key.")
    st.stop()

by_name = {a["name"]: a for a in apps}
if "chat_app" not in st.session_state:  # deep links: ?app=customer_service&conversation=<id>
    if st.query_params.get("app") in by_name:
        st.session_state["chat_app"] = st.query_params["app"]
    st.session_state.setdefault("conversation_id", st.query_params.get("conversation"))
app_name = st.sidebar.selectbox(
    "App", list(by_name), key="chat_app", format_func=lambda n: by_name[n].get("title") or n,
    on_change=_select, args=(None,),
)
app = by_name[app_name]
# Knowledge base: the app's own, or any the tenant shares (another chat app's own is that app's, not offered).
others_own = {a.get("knowledge_base") for a in apps if a["name"] != app_name} - {app.get("knowledge_base")}
try:
    shared = [kb["name"] for kb in client.list_knowledge_bases() if kb["name"] not in others_own]
except ApiError as exc:
    show_error(exc, "list knowledge bases")
    shared = []
own_kb = app.get("knowledge_base")
kb_options = ([own_kb] if own_kb else []) + sorted(k for k in shared if k != own_kb)
chosen_kb: str | None = None
if kb_options:
    chosen_kb = st.sidebar.selectbox(
        "Knowledge base", kb_options, key=f"chat_kb_{app_name}",
        format_func=lambda k: f"{k} (the app's)" if k == own_kb else k,
        help="Which documents the answers search; a conversation keeps the one it started with unless you pick another.",
    )
kb_to_send = chosen_kb if chosen_kb and chosen_kb != own_kb else None
details = [app.get("description") or ""]
if chosen_kb or own_kb:
    details.append(f"knowledge base `{chosen_kb or own_kb}`")
if app.get("tools"):
    details.append("tools: " + ", ".join(f"`{t}`" for t in app["tools"]))
st.caption(" · ".join(d for d in details if d))

if st.sidebar.button("➕ New conversation", width="stretch"):
    try:
        _select(client.create_conversation(app_name)["id"])
    except ApiError as exc:
        show_error(exc, "create a conversation")
conversation_box = st.sidebar.container()  # filled last, so a conversation started below is listed
conversation_id: str | None = st.session_state.get("conversation_id")

if conversation_id:
    try:
        render_history(client.list_messages(conversation_id), app=app_name)
    except ApiError as exc:
        show_error(exc, "load the conversation")

prompt = st.chat_input(f"Message {app.get('title') or app_name}")
if prompt:
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        tools_box = st.container()
        turn = TurnResult(conversation_id=conversation_id)
        try:
            events = _live_tools(client.stream_chat(app_name, prompt, conversation_id, knowledge_base=kb_to_send), tools_box, app_name)
            st.write_stream(collect_stream(events, turn))
        except ApiError as exc:
            show_error(exc, "get an answer")
        render_citations(turn.citations)
        if turn.state in WITH_OPERATOR:
            st.info(f"This conversation is now **{turn.state.replace('_', ' ')}**: an operator will take it from here.")
    if turn.conversation_id:
        _select(turn.conversation_id)
        conversation_id = turn.conversation_id

with conversation_box:
    st.subheader("Conversations")
    try:
        conversations = client.list_conversations(app_name)
    except ApiError as exc:
        show_error(exc, "list conversations")
        conversations = []
    if not conversations:
        st.caption("None yet: send a message to start one.")
    for conv in conversations:
        label = conv.get("title") or f"{str(conv.get('created_at', ''))[:16]} · {conv['id'][:8]}"
        if conv.get("state") and conv["state"] not in ("active", "open"):
            label += f" ({conv['state']})"
        st.button(label, key=f"conv-{conv['id']}", on_click=_select, args=(conv["id"],),
                  type="primary" if conv["id"] == conversation_id else "secondary", width="stretch")
    current = next((c for c in conversations if c["id"] == conversation_id), None)
    if current and current.get("state") in WITH_OPERATOR:
        st.caption(f"🧑‍💼 With an operator ({current['state'].replace('_', ' ')}); the bot is paused.")
    elif conversation_id and st.button("🙋 Hand off to an operator", width="stretch"):
        try:
            client.hand_off(conversation_id, summary="Operator take-over requested from the console.")
            st.toast("Handed off: the conversation is in the operator inbox.")
            st.rerun()
        except ApiError as exc:
            if exc.is_not_found:
                st.info("Human handoff is not available on this API yet.")
            else:
                show_error(exc, "hand off the conversation")
if current and current.get("state") in WITH_OPERATOR:
    st.info("An operator has this conversation: replies come from a person until it is handed back.")
