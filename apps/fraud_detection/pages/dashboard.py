"""The fraud dashboard: score distribution, alerts per day against the budget, precision of labelled
alerts, and drift (PSI) of every feature against the model's training distribution.

Reads ``GET /v1/apps/fraud_detection/monitoring``; Streamlit, ``ui.client`` and the standard library only.
"""

from __future__ import annotations

import streamlit as st

from apps.fraud_detection.pages.common import call
from ui.client import connect

st.title("📈 Fraud dashboard")
api = connect(st.session_state)
days = st.slider("Drift over the scores of the last N days", 1, 60, 7)
data = call(api, "GET", "/monitoring", params={"days": days})

left, middle, right = st.columns(3)
left.metric("Scores", f"{data['num_scores']:,}")
precision = data["labelled_precision"]
middle.metric("Precision of labelled alerts", "—" if precision is None else f"{precision:.0%}",
              help=f"{data['num_labelled_cases']} labelled cases")
right.metric("Model version", data["model_version"])

st.subheader("Score distribution")
histogram = data["score_histogram"]
st.bar_chart({"score bin": [f"{h['low']:g}–{h['high']:g}" for h in histogram],
              "transactions": [h["count"] for h in histogram]}, x="score bin", y="transactions")

st.subheader("Alerts per day")
per_day = data["alerts_per_day"]
if per_day:
    chart = {"day": [d["day"] for d in per_day], "alerts": [d["alerts"] for d in per_day]}
    if any(d["budget"] is not None for d in per_day):
        chart["budget"] = [d["budget"] or 0 for d in per_day]
    st.line_chart(chart, x="day", y=[k for k in chart if k != "day"])
    labelled = [d for d in per_day if d["labelled"]]
    if labelled:
        st.caption("Precision of labelled alerts per day")
        st.line_chart({"day": [d["day"] for d in labelled],
                       "precision": [d["frauds"] / d["labelled"] for d in labelled]}, x="day", y="precision")
else:
    st.info("No alerts yet: run the daily budget on the case queue, or set a threshold.")

st.subheader("Drift against training (PSI)")
drift = data["drift"]
if drift:
    ranked = sorted(drift.items(), key=lambda item: item[1], reverse=True)
    st.bar_chart({"feature": [name for name, _ in ranked], "PSI": [value for _, value in ranked]},
                 x="feature", y="PSI", horizontal=True)
    st.dataframe([{"feature": name, "PSI": value,
                   "shift": "large" if value > 0.25 else "moderate" if value > 0.1 else "stable"} for name, value in ranked],
                 hide_index=True)
    st.caption(f"{data['drift_rows']:,} scores of the last {data['drift_days']} days. "
               "Under 0.1 stable, 0.1 to 0.25 moderate, over 0.25 large.")
else:
    st.info("No drift yet: it needs recent scores and a model with stored training bins.")
