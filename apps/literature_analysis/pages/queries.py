"""literature_analysis's console page for saved PubMed queries: save one (term, knowledge base, interval),
see each query's sync status (`synced_through`, last run, counts, error), a queued or running sync's job
state and progress (``GET /v1/jobs/{id}``, refreshed while it runs), and sync one now as a job followed
with its progress bar. Calls only the app's routes and ``GET /v1/jobs/{id}`` through ``ui.client``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apps.literature_analysis.pages.common import APP, TERMINAL, follow_job, job_progress
from ui.client import ApiError, connect

STATUS = {"never": "⚪ never run", "queued": "🕓 queued", "running": "🔄 running", "succeeded": "🟢 succeeded", "failed": "🔴 failed"}
REFRESH_S = 1.0


def running_job(job_id: str) -> None:
    """A sync in flight: its job's state and progress, redrawn every ``REFRESH_S`` until it ends."""
    try:
        job = api.get_job(job_id)
    except ApiError as exc:
        st.caption(f"job {job_id}: {exc}")
        return
    fraction, label = job_progress(job, "records")
    st.progress(fraction, text=f"job {job_id}: {label}")
    if job["state"] in TERMINAL:
        st.rerun()  # the whole page: the query's status has moved on


def show_query(query: dict[str, Any]) -> None:
    st.markdown(f"**{query['name']}** · `{query['term']}` → {query['knowledge_base']} · every {query['interval_hours']} h")
    st.caption(f"{STATUS.get(query['last_status'], query['last_status'])} · synced through {query['synced_through'] or '—'} · "
               f"found {query['num_found']} · stored {query['num_written']} · runs {query['num_runs']}"
               + (" · due" if query["due"] else ""))
    if query.get("last_error"):
        st.warning(query["last_error"])
    if query["last_status"] in ("queued", "running") and query.get("last_job_id"):
        st.fragment(running_job, run_every=REFRESH_S)(query["last_job_id"])

st.title("📚 PubMed queries")
api = connect(st.session_state)

with st.form("new_query"):
    st.subheader("Save a query")
    name = st.text_input("Name")
    term = st.text_input("PubMed search term")
    kb = st.text_input("Knowledge base", value="literature")
    hours = st.number_input("Sync every (hours)", min_value=1, max_value=8760, value=24)
    if st.form_submit_button("Save query"):
        try:
            api.call_app(APP, "POST", "/queries", json={"name": name, "term": term, "knowledge_base": kb, "interval_hours": int(hours)})
            st.success(f"saved {name!r}")
        except ApiError as exc:
            st.error(str(exc))

try:
    queries = api.call_app(APP, "GET", "/queries")["queries"]
except ApiError as exc:
    st.error(str(exc))
    queries = []
if not queries:
    st.info("No saved query yet.")
for query in queries:
    with st.container(border=True):
        show_query(query)
        if st.button("Sync now", key=f"sync_{query['name']}"):
            try:
                job = api.call_app(APP, "POST", f"/queries/{query['name']}:sync")
            except ApiError as exc:
                st.error(str(exc))
            else:
                info = follow_job(api, job["job_id"], "records")
                if info["state"] == "failed":
                    st.error(info.get("error") or "the sync failed")
                else:
                    st.success(f"{info['state']}: {(info.get('result') or {}).get('num_written', 0)} records stored")
