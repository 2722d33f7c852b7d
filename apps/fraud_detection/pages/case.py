"""One fraud case: the transaction, its reasons and narrative, the customer's and the terminal's recent
history as charts, notes and the trail; assign, note and label buttons.

Reads ``GET /v1/apps/fraud_detection/cases/{id}``; writes through ``POST .../assign|notes|label``.
Streamlit, ``ui.client`` and the standard library only.
"""

from __future__ import annotations

import streamlit as st

from apps.fraud_detection.pages.common import APP, CASE_KEY, call
from ui.client import ApiError, connect

st.title("🕵️ Fraud case")
api = connect(st.session_state)

queue = call(api, "GET", "/cases", params={"limit": 200})["data"]
if not queue:
    st.info("No cases yet.")
    st.stop()
ids = [c["id"] for c in queue]
remembered = st.session_state.get(CASE_KEY)
labels = {c["id"]: f"{c['score']:.3f} · customer {c['customer_id']} · {c['day']} · {c['status']}" for c in queue}
case_id = st.selectbox("Case", ids, index=ids.index(remembered) if remembered in ids else 0,
                       format_func=labels.__getitem__)
detail = call(api, "GET", f"/cases/{case_id}")
case, tx = detail["case"], detail["transaction"] or {}

left, middle, right = st.columns(3)
left.metric("Score", f"{case['score']:.3f}")
middle.metric("Status", case["status"])
right.metric("Assignee", case["assignee"] or "—")
st.caption(f"Model {case['model_version']} · rule {case['alert_rule']} · opened {case['created_at'][:19]}")

st.subheader("Transaction")
st.dataframe([{k: v for k, v in tx.items()}], hide_index=True)
st.subheader("Why it was flagged")
st.markdown(case["narrative"] + (" *(written by the chat model from the reasons)*" if case["narrative_source"] == "model" else ""))
for reason in detail["reasons"]:
    st.markdown(f"- **{reason['kind']}**: {reason['text']} (contribution {reason['contribution']:+.2f})")

for title, history in (("Customer's recent transactions", detail["customer_history"]),
                       ("Terminal's recent transactions", detail["terminal_history"])):
    st.subheader(title)
    if history:
        st.line_chart({"time": [p["TX_DATETIME"] for p in history], "amount": [p["TX_AMOUNT"] for p in history]},
                      x="time", y="amount")
        frauds = sum(1 for p in history if p["label"] == 1)
        st.caption(f"{len(history)} transactions, {frauds} labelled fraud")
    else:
        st.caption("No stored history.")


def act(path: str, body: dict[str, object], done: str) -> None:
    try:
        api.call_app(APP, "POST", f"/cases/{case_id}{path}", json=body)
        st.success(done)
    except ApiError as exc:
        st.error(str(exc))


st.subheader("Investigate")
with st.form("assign"):
    who = st.text_input("Assign to", value=case["assignee"] or "")
    if st.form_submit_button("Assign") and who.strip():
        act("/assign", {"assignee": who.strip()}, f"Assigned to {who.strip()}.")
with st.form("note", clear_on_submit=True):
    text = st.text_area("Note")
    if st.form_submit_button("Add note") and text.strip():
        act("/notes", {"text": text.strip()}, "Note added.")
fraud, legitimate = st.columns(2)
if fraud.button("Label fraud", type="primary"):
    act("/label", {"label": "fraud"}, "Labelled fraud: it feeds the terminal's features once visible, and retraining.")
if legitimate.button("Label legitimate"):
    act("/label", {"label": "legitimate"}, "Labelled legitimate.")

st.subheader("Notes")
for note in detail["notes"]:
    st.markdown(f"**{note['author']}** ({note['created_at'][:19]}): {note['text']}")
if not detail["notes"]:
    st.caption("No notes.")
st.subheader("Trail")
st.dataframe([{"at": e["created_at"][:19], "who": e["actor"], "action": e["action"], "detail": str(e["detail"])}
              for e in detail["events"]], hide_index=True)
