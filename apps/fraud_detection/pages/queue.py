"""The case queue: cases sorted by score, filtered by status, assignee and day; the daily budget run.

Reads ``GET /v1/apps/fraud_detection/cases``; ``POST .../alerts:run`` opens the day's cases. Choosing a
case remembers it for the case page. Streamlit, ``ui.client`` and the standard library only.
"""

from __future__ import annotations

import streamlit as st

from apps.fraud_detection.pages.common import CASE_KEY, call
from ui.client import ApiError, connect

STATUSES = ["any", "open", "in_review", "fraud", "legitimate"]

st.title("🗂️ Fraud cases")
api = connect(st.session_state)

with st.form("filters"):
    left, middle, right = st.columns(3)
    status = left.selectbox("Status", STATUSES)
    assignee = middle.text_input("Assignee")
    day = right.text_input("Day (YYYY-MM-DD)")
    st.form_submit_button("Filter")
params: dict[str, str | int] = {"limit": 200}
if status != "any":
    params["status"] = status
if assignee.strip():
    params["assignee"] = assignee.strip()
if day.strip():
    params["day"] = day.strip()
queue = call(api, "GET", "/cases", params=params)

with st.expander("Run the daily budget"):
    settings = call(api, "GET", "/alerts/settings")
    st.caption(f"Alert rule: {settings['mode']} (budget {settings['daily_budget']} cards a day, "
               f"threshold {settings['threshold']:g})")
    with st.form("run_budget"):
        run_day = st.text_input("Day to alert (YYYY-MM-DD)")
        if st.form_submit_button("Open the day's cases") and run_day.strip():
            try:
                opened = api.call_app("fraud_detection", "POST", "/alerts:run", json={"day": run_day.strip()})["opened"]
                st.success(f"{len(opened)} case(s) opened for {run_day.strip()}.")
            except ApiError as exc:
                st.error(str(exc))

st.caption(f"{queue['total']} case(s), highest score first")
if queue["data"]:
    st.dataframe([{"score": round(c["score"], 4), "status": c["status"], "assignee": c["assignee"] or "",
                   "day": c["day"], "customer": c["customer_id"], "terminal": c["terminal_id"],
                   "transaction": c["transaction_id"], "rule": c["alert_rule"], "case": c["id"]} for c in queue["data"]],
                 hide_index=True)
    labels = {c["id"]: f"{c['score']:.3f} · customer {c['customer_id']} · {c['day']} · {c['status']}" for c in queue["data"]}
    chosen = st.selectbox("Case to open on the case page", list(labels), format_func=labels.__getitem__)
    if st.button("Choose this case"):
        st.session_state[CASE_KEY] = chosen
        st.success("Chosen: open the Fraud case page.")
else:
    st.info("No cases match.")
