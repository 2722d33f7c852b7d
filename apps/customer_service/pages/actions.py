"""Running the store's tools for a conversation's customer from the console, with a confirmation step.

Both the operator desk's panel and the returns and exchanges form go through the app's route
``POST /v1/apps/customer_service/desk/conversations/{id}/tool-runs``: a write is first sent without
``confirm`` (the API answers with the action in words and changes nothing), shown for confirmation, and only
the operator's "Confirm" sends it again with ``confirm``. The API checks identity, ownership and the role,
audits the run and tells the customer. Streamlit, ``ui.client`` and the standard library only.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.client import ApiClient, ApiError

APP = "customer_service"


def customer_of(client: ApiClient, conversation_id: str) -> dict[str, Any]:
    """The conversation's identity, account and orders (``GET .../desk/conversations/{id}/customer``)."""
    return dict(client.call_app(APP, "GET", f"/desk/conversations/{conversation_id}/customer") or {})


def run_tool(client: ApiClient, conversation_id: str, tool: str, arguments: dict[str, Any], *, confirm: bool = False,
             reason: str = "") -> dict[str, Any]:
    body = {"tool": tool, "arguments": arguments, "confirm": confirm, "reason": reason}
    return dict(client.call_app(APP, "POST", f"/desk/conversations/{conversation_id}/tool-runs", json=body) or {})


def ask(client: ApiClient, key: str, conversation_id: str, tool: str, arguments: dict[str, Any], reason: str = "") -> None:
    """Send the action without ``confirm``: a write waits in ``st.session_state[key]`` for "Confirm", a lookup
    has run and its result is kept there to show."""
    try:
        answer = run_tool(client, conversation_id, tool, arguments, reason=reason)
    except ApiError as exc:
        st.session_state[key] = {"error": str(exc)}
        return
    st.session_state[key] = {**answer, "reason": reason, "conversation_id": conversation_id}


def confirmation(client: ApiClient, key: str) -> dict[str, Any] | None:
    """Draw what ``ask`` left in ``key``: an error, a lookup's result, or the write to confirm or drop.
    Returns the finished run once a confirmed write has gone through (also kept in ``key``)."""
    pending = st.session_state.get(key)
    if not pending:
        return None
    if "error" in pending:
        st.error(f"Not done: {pending['error']}")
        return None
    if pending.get("status") == "done":
        st.success(f"Done: {pending.get('summary')}")
        return dict(pending)
    st.warning(f"Please confirm: **{pending.get('summary')}**. This changes the customer's records and is recorded "
               "in the audit log under your name.")
    go, drop = st.columns(2)
    if go.button("✅ Confirm", key=f"{key}_confirm", width="stretch"):
        try:
            done = run_tool(client, pending["conversation_id"], pending["tool"], pending["arguments"], confirm=True,
                            reason=pending.get("reason", ""))
        except ApiError as exc:
            st.session_state[key] = {"error": str(exc)}
        else:
            st.session_state[key] = done
        st.rerun()
    if drop.button("✖ Cancel", key=f"{key}_drop", width="stretch"):
        st.session_state.pop(key, None)
        st.rerun()
    return None


def payment_methods(user: dict[str, Any] | None) -> list[str]:
    methods = (user or {}).get("payment_methods") or {}
    return list(methods) if isinstance(methods, dict) else [str(m.get("id")) for m in methods if isinstance(m, dict)]
