"""literature_analysis's contradictions view: for a claim or topic, the papers that support it and those that
contradict it side by side, each with its rationale sentences highlighted inside its abstract; the
papers that take no side below. Calls ``POST .../contradictions`` through ``ui.client``.
"""

from __future__ import annotations

import streamlit as st

from apps.literature_analysis.pages.common import APP, BADGES, scope_fields, show_abstract
from ui.client import ApiError, connect

st.title("⚖️ Contradictions")
api = connect(st.session_state)

with st.form("sides"):
    topic = st.text_area("Claim or topic")
    scope = scope_fields("sides")
    papers = st.number_input("Papers checked (without PMIDs)", min_value=1, max_value=20, value=10)
    if st.form_submit_button("Compare"):
        try:
            st.session_state["lit_sides"] = api.call_app(APP, "POST", "/contradictions", json={
                "claim": topic, **scope, "max_abstracts": int(papers)})
        except ApiError as exc:
            st.session_state.pop("lit_sides", None)
            st.error(str(exc))

sides = st.session_state.get("lit_sides")
if sides:
    st.caption(f"Overall: {BADGES.get(sides['verdict'], sides['verdict'])} · {sides['model_version']}")
    left, right = st.columns(2)
    with left:
        st.subheader(f"Supporting ({len(sides['supporting'])})")
        for item in sides["supporting"]:
            with st.container(border=True):
                show_abstract(item)
    with right:
        st.subheader(f"Contradicting ({len(sides['contradicting'])})")
        for item in sides["contradicting"]:
            with st.container(border=True):
                show_abstract(item)
    if sides["undecided"]:
        with st.expander(f"Taking no side ({len(sides['undecided'])})"):
            for item in sides["undecided"]:
                st.markdown(f"{item['title']} · PMID {item.get('pmid') or '—'}")
