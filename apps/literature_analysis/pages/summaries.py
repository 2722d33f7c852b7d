"""literature_analysis's summary builder: pick a saved query's results, a list of PMIDs or a knowledge base
search, run ``POST .../summaries`` and show the summary grouped by finding, every sentence with its
citation, and the cited papers. Large sets (more than ``JOB_OVER`` papers, or on request) run as a job
(``POST .../summaries:job``) followed with its progress bar; the job's result is the same summary.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apps.literature_analysis.pages.common import APP, follow_job
from ui.client import ApiError, connect

JOB_OVER = 20  # papers: more than this runs as a job
SOURCES = ("Saved PubMed query", "PMIDs", "Knowledge base search")


def show_summary(summary: dict[str, Any]) -> None:
    st.subheader(f"Summary of {summary['abstracts']} papers")
    cited: dict[int, dict[str, Any]] = {}
    for number, group in enumerate(summary["groups"], start=1):
        st.markdown(f"**Finding {number}**")
        for sentence in group["sentences"]:
            cited[sentence["citation"]] = sentence
        st.markdown(" ".join(f"{s['text']} [{s['citation']}]" for s in group["sentences"]))
    st.markdown("**Citations**")
    for number in sorted(cited):
        s = cited[number]
        st.caption(f"[{number}] PMID {s.get('pmid') or '—'} · {s['title']} · sentence {s['index'] + 1}")


st.title("🧾 Summary builder")
api = connect(st.session_state)
try:
    saved = [q["name"] for q in api.call_app(APP, "GET", "/queries")["queries"]]
except ApiError as exc:
    st.error(str(exc))
    saved = []

source = st.radio("Papers", SOURCES, horizontal=True, key="summary_source")
with st.form("summary"):
    query = st.text_area("Question or topic")
    body: dict[str, Any] = {}
    if source == SOURCES[0]:
        name = st.selectbox("Saved query", saved, key="summary_saved")
        body = {"saved_query": name} if name else {}
    else:
        body = {"knowledge_base": st.text_input("Knowledge base", value="literature", key="summary_kb")}
        if source == SOURCES[1]:
            raw = st.text_area("PMIDs (comma or newline separated)", key="summary_pmids")
            body["pmids"] = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()] or None
    papers = st.number_input("Papers considered (search, saved query)", min_value=1, max_value=50, value=8)
    sentences = st.number_input("Sentences", min_value=1, max_value=30, value=6)
    as_job = st.checkbox("Run as a background job")
    if st.form_submit_button("Summarise"):
        body |= {"query": query, "max_abstracts": int(papers), "max_sentences": int(sentences)}
        size = len(body.get("pmids") or []) or int(papers)
        st.session_state.pop("lit_summary", None)
        try:
            if as_job or size > JOB_OVER:
                job = api.call_app(APP, "POST", "/summaries:job", json=body)
                record = follow_job(api, job["job_id"], "steps")
                if record["state"] == "succeeded":
                    st.session_state["lit_summary"] = record["result"]
                else:
                    st.error(f"The summary job {record['state']}: {record.get('error') or 'no reason given'}")
            else:
                st.session_state["lit_summary"] = api.call_app(APP, "POST", "/summaries", json=body)
        except ApiError as exc:
            st.error(str(exc))

summary = st.session_state.get("lit_summary")
if summary:
    show_summary(summary)
