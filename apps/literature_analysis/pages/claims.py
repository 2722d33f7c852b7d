"""literature_analysis's claim checker: check a claim against a knowledge base, a saved PubMed query or PMIDs,
see each abstract's verdict badge with its rationale sentences highlighted in the abstract. The
contradictions view and the summary builder are pages of their own (``contradictions.py``,
``summaries.py``). Calls only the app's routes through ``ui.client``.
"""

from __future__ import annotations

import streamlit as st

from apps.literature_analysis.pages.common import APP, BADGES, scope_fields, show_abstract
from ui.client import ApiError, connect

st.title("🔬 Claim checker")
api = connect(st.session_state)

with st.form("check"):
    claim = st.text_area("Claim")
    scope = scope_fields("check")
    mode = st.radio("Model", ["model", "llm"], horizontal=True)
    if st.form_submit_button("Check"):
        try:
            st.session_state["lit_check"] = api.call_app(APP, "POST", "/claims:check", json={"claim": claim, **scope, "mode": mode})
        except ApiError as exc:
            st.session_state.pop("lit_check", None)
            st.error(str(exc))
result = st.session_state.get("lit_check")
if result:
    st.subheader(f"Verdict: {BADGES.get(result['verdict'], result['verdict'])}")
    st.caption(f"confidence {result['confidence']:.2f} · {result['mode']} · {result['model_version']}")
    for item in result["abstracts"]:
        show_abstract(item)
