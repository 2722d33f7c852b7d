"""Answers: an app's pinned answers (pin, unpin) and its cached answers, with the cache's hit rate.

Pinned answers are served word for word, without a model call, to first-turn questions that match them
(exactly or as near-duplicates); cached answers are generated answers kept for repeated questions. The page
reads ``/v1/apps/<app>/answers`` and ``/metrics``; the API decides who may change what (operators pin).
"""

from __future__ import annotations

import re

import streamlit as st

from ui.client import ApiError
from ui.widgets import get_client, show_error

SAMPLE = re.compile(r'^moesaic_answer_cache_(lookups|saved_model_seconds)_total\{([^}]*)\}\s+(\S+)')


def cache_figures(metrics: str, app: str) -> tuple[float, float, float]:
    """(hits, lookups, saved model seconds) of ``app`` in Prometheus text."""
    hits = lookups = saved = 0.0
    for line in metrics.splitlines():
        match = SAMPLE.match(line)
        if not match or f'app="{app}"' not in match.group(2):
            continue
        value = float(match.group(3))
        if match.group(1) == "saved_model_seconds":
            saved += value
        else:
            lookups += value
            hits += 0.0 if 'outcome="miss"' in match.group(2) else value
    return hits, lookups, saved


client = get_client()
st.title("📌 Answers")
try:
    apps = [a["name"] for a in client.list_apps() if a.get("chat")]
except ApiError as exc:
    show_error(exc, "list apps")
    st.stop()
if not apps:
    st.info("No chat app is available to this key.")
    st.stop()
app = st.selectbox("App", apps, key="answers_app")

try:
    hits, lookups, saved = cache_figures(client.metrics_text(), app)
    hit_rate, lookup_count, saved_time = st.columns(3)
    hit_rate.metric("Cache hit rate", f"{hits / lookups:.0%}" if lookups else "—")
    lookup_count.metric("Lookups (this API process)", f"{lookups:g}")
    saved_time.metric("Model time saved", f"{saved:.1f} s")
except ApiError as exc:
    show_error(exc, "read /metrics")

with st.form("pin", clear_on_submit=True):
    question = st.text_input("Question", placeholder="How long do I have to return an item?")
    answer = st.text_area("Pinned answer", placeholder="The answer users get, word for word.")
    if st.form_submit_button("Pin", type="primary") and question.strip() and answer.strip():
        try:
            client.call_app(app, "POST", "/answers", json={"question": question, "answer": answer})
            st.toast("Pinned.")
        except ApiError as exc:
            show_error(exc, "pin the answer")

try:
    answers = client.call_app(app, "GET", "/answers")["data"]
except ApiError as exc:
    show_error(exc, f"list the answers of {app}")
    st.stop()
pinned = [a for a in answers if a["source"] == "pinned_answer"]
cached = [a for a in answers if a["source"] == "answer_cache"]

st.subheader(f"Pinned ({len(pinned)})")
if not pinned:
    st.caption("No pinned answers: pin one above.")
for item in pinned:
    text, hits_column, action = st.columns([6, 1, 1], vertical_alignment="center")
    text.markdown(f"**{item['question']}**  \n{item['answer']}")
    hits_column.caption(f"{item['hits']} hits · by {item['created_by'] or '—'}")
    if action.button("Unpin", key=f"unpin-{item['id']}"):
        try:
            client.call_app(app, "DELETE", f"/answers/{item['id']}")
            st.rerun()
        except ApiError as exc:
            show_error(exc, "unpin the answer")

st.subheader(f"Cached ({len(cached)})")
if cached:
    st.dataframe([{"question": a["question"], "answer": a["answer"], "hits": a["hits"], "sources": len(a["citations"]),
                   "knowledge base": a["knowledge_base"], "expires": a["expires_at"], "id": a["id"]} for a in cached],
                 hide_index=True)
else:
    st.caption("Nothing cached yet: first-turn questions without tools or personal data are kept once answered.")
