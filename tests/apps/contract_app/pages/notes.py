"""contract_app's console page: the tenant's notes, and a form that adds several through the app's job.

It calls the app's own routes (``GET /v1/apps/contract_app/notes``, ``POST .../notes:bulk``) and follows
the queued job at ``GET /v1/jobs/{id}``, all through ``ui.client``. Streamlit, ``ui.client`` and the
standard library only: the console runs without the core.
"""

from __future__ import annotations

import streamlit as st

from ui.client import ApiError, connect

APP = "contract_app"
JOB_KEY = "contract_app_job"

st.title("🗒️ Notes")
api = connect(st.session_state)

with st.form("add_notes", clear_on_submit=True):
    lines = st.text_area("New notes, one per line")
    if st.form_submit_button("Add in the background"):
        texts = [line.strip() for line in lines.splitlines() if line.strip()]
        try:
            if texts:
                st.session_state[JOB_KEY] = api.call_app(APP, "POST", "/notes:bulk", json={"texts": texts})["job_id"]
        except ApiError as exc:
            st.error(str(exc))

job_id = st.session_state.get(JOB_KEY)
if job_id:
    try:
        job = api.get_job(job_id)
        st.caption(f"Job {job_id}: {job.get('state')}")
        if job.get("error"):
            st.warning(job["error"])
    except ApiError as exc:
        st.warning(f"Job {job_id}: {exc}")

try:
    notes = api.call_app(APP, "GET", "/notes")["data"]
except ApiError as exc:
    st.error(str(exc))
    st.stop()
if notes:
    st.dataframe([{"note": note["text"]} for note in notes], hide_index=True)
else:
    st.info("No notes yet.")
