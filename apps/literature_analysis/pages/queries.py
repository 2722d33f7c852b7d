"""literature_analysis's console page for saved PubMed queries: save one (term, knowledge base, interval),
see each query's sync status (`synced_through`, last run, counts, error), and sync one now as a job with
its progress. Calls only the app's routes and ``GET /v1/jobs/{id}`` through ``ui.client``.
"""

from __future__ import annotations

import time

import streamlit as st

from ui.client import ApiError, connect

APP = "literature_analysis"
STATUS = {"never": "⚪ never run", "queued": "🕓 queued", "running": "🔄 running", "succeeded": "🟢 succeeded", "failed": "🔴 failed"}
POLL_S, MAX_POLLS = 0.5, 240

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
        st.markdown(f"**{query['name']}** · `{query['term']}` → {query['knowledge_base']} · every {query['interval_hours']} h")
        st.caption(f"{STATUS.get(query['last_status'], query['last_status'])} · synced through {query['synced_through'] or '—'} · "
                   f"found {query['num_found']} · stored {query['num_written']} · runs {query['num_runs']}"
                   + (" · due" if query["due"] else ""))
        if query.get("last_error"):
            st.warning(query["last_error"])
        if st.button("Sync now", key=f"sync_{query['name']}"):
            try:
                job = api.call_app(APP, "POST", f"/queries/{query['name']}:sync")
            except ApiError as exc:
                st.error(str(exc))
            else:
                bar = st.progress(0.0, text="queued")
                for _ in range(MAX_POLLS):
                    info = api.get_job(job["job_id"])
                    done, total = info.get("progress_done") or 0, info.get("progress_total") or 0
                    bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{info['state']} · {done} of {total or '?'} records")
                    if info["state"] in ("succeeded", "failed", "cancelled"):
                        break
                    time.sleep(POLL_S)
                if info["state"] == "failed":
                    st.error(info.get("error") or "the sync failed")
                else:
                    st.success(f"{info['state']}: {(info.get('result') or {}).get('num_written', 0)} records stored")
