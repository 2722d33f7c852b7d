"""literature_analysis's search page: the papers of a knowledge base (``POST .../search``) or of PubMed itself
(``POST .../pubmed/search``), each with its metadata (authors, journal, year, PMID, DOI, MeSH terms);
PubMed results can be added to a knowledge base (``POST .../pubmed/articles``, indexed as jobs).
"""

from __future__ import annotations

import streamlit as st

from apps.literature_analysis.pages.common import APP, show_paper
from ui.client import ApiError, connect

st.title("🔎 Literature search")
api = connect(st.session_state)
local_tab, pubmed_tab = st.tabs(["Knowledge base", "PubMed"])

with local_tab:
    with st.form("local_search"):
        query = st.text_input("Search the knowledge base", key="local_q")
        kb = st.text_input("Knowledge base", value="literature", key="local_kb")
        limit = st.number_input("Results", min_value=1, max_value=50, value=10, key="local_n")
        if st.form_submit_button("Search"):
            try:
                st.session_state["lit_local"] = api.call_app(APP, "POST", "/search", json={
                    "query": query, "knowledge_base": kb, "max_results": int(limit)})
            except ApiError as exc:
                st.session_state.pop("lit_local", None)
                st.error(str(exc))
    found = st.session_state.get("lit_local")
    if found:
        st.caption(f"{len(found['results'])} papers of {found['knowledge_base']!r}")
        for paper in found["results"]:
            with st.container(border=True):
                show_paper(paper)

with pubmed_tab:
    with st.form("pubmed_search"):
        term = st.text_input("PubMed search term", key="pubmed_q")
        limit = st.number_input("Results", min_value=1, max_value=20, value=10, key="pubmed_n")
        if st.form_submit_button("Search PubMed"):
            try:
                st.session_state["lit_pubmed"] = api.call_app(APP, "POST", "/pubmed/search", json={
                    "query": term, "max_results": int(limit)})
            except ApiError as exc:
                st.session_state.pop("lit_pubmed", None)
                st.error(str(exc))
    found = st.session_state.get("lit_pubmed")
    if found:
        st.caption(f"PubMed found {found['count']} records; the first {len(found['results'])}:")
        chosen = []
        for paper in found["results"]:
            with st.container(border=True):
                if st.checkbox("Add", key=f"pick_{paper['pmid']}"):
                    chosen.append(paper["pmid"])
                show_paper(paper)
        target = st.text_input("Add the checked papers to knowledge base", value="literature", key="pubmed_kb")
        if st.button(f"Add {len(chosen)} papers", disabled=not chosen, key="pubmed_add"):
            try:
                added = api.call_app(APP, "POST", "/pubmed/articles", json={"pmids": chosen, "knowledge_base": target})
                st.success(f"queued for indexing in {added['knowledge_base']!r}: {', '.join(added['added']) or 'none'}"
                           + (f" · not found: {', '.join(added['not_found'])}" if added["not_found"] else ""))
            except ApiError as exc:
                st.error(str(exc))
