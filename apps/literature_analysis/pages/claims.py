"""literature_analysis's console page: check a claim against a knowledge base, a saved PubMed query or PMIDs, see each
abstract's verdict with its rationale sentences highlighted in the abstract, the supporting and the
contradicting papers side by side, and build a cited summary. Calls only the app's routes through
``ui.client``; Streamlit and the standard library otherwise.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.client import ApiError, connect

APP = "literature_analysis"
BADGES = {"SUPPORT": "🟢 SUPPORT", "CONTRADICT": "🔴 CONTRADICT", "NOT_ENOUGH_INFO": "⚪ NOT ENOUGH INFO", "MIXED": "🟠 MIXED"}


def highlighted(text: str, spans: list[dict[str, Any]]) -> str:
    """The abstract as Markdown with each rationale sentence (by its offsets) highlighted."""
    out, cut = [], 0
    for span in sorted(spans, key=lambda s: s["start_char"]):
        start, end = int(span["start_char"]), int(span["end_char"])
        if start < cut or text[start:end] != span["text"]:
            continue  # offsets that do not slice the sentence are never drawn
        out.append(text[cut:start].replace("#", "").strip())
        out.append(f":orange-background[{text[start:end]}]")
        cut = end
    out.append(text[cut:].replace("#", "").strip())
    return " ".join(part for part in out if part)


def scope_fields(prefix: str) -> dict[str, Any]:
    """The request's scope: a knowledge base or a saved PubMed query, optionally PMIDs in it."""
    kb = st.text_input("Knowledge base", value=st.session_state.get("lit_kb", "literature"), key=f"{prefix}_kb")
    raw = st.text_input("PMIDs (optional, comma-separated)", key=f"{prefix}_pmids")
    saved = st.text_input("Saved PubMed query (optional: instead of the knowledge base)", key=f"{prefix}_query").strip()
    pmids = [p.strip() for p in raw.split(",") if p.strip()] or None
    return {"saved_query": saved, "pmids": pmids} if saved else {"knowledge_base": kb, "pmids": pmids}


def show_abstract(item: dict[str, Any]) -> None:
    st.markdown(f"**{BADGES.get(item['label'], item['label'])}** · {item['title']} · PMID {item.get('pmid') or '—'} · "
                f"confidence {item['confidence']:.2f}")
    st.markdown(highlighted(item.get("text", ""), item["rationale"]))


st.title("🔬 Claim checker")
api = connect(st.session_state)
check_tab, side_tab, summary_tab = st.tabs(["Check a claim", "Contradictions", "Summary"])

with check_tab:
    with st.form("check"):
        claim = st.text_area("Claim")
        scope = scope_fields("check")
        mode = st.radio("Model", ["model", "llm"], horizontal=True)
        if st.form_submit_button("Check"):
            try:
                st.session_state["lit_check"] = api.call_app(APP, "POST", "/claims:check", json={
                    "claim": claim, **scope, "mode": mode})
            except ApiError as exc:
                st.session_state.pop("lit_check", None)
                st.error(str(exc))
    result = st.session_state.get("lit_check")
    if result:
        st.subheader(f"Verdict: {BADGES.get(result['verdict'], result['verdict'])}")
        st.caption(f"confidence {result['confidence']:.2f} · {result['mode']} · {result['model_version']}")
        for item in result["abstracts"]:
            show_abstract(item)

with side_tab:
    with st.form("sides"):
        topic = st.text_area("Claim or topic")
        scope = scope_fields("sides")
        if st.form_submit_button("Compare"):
            try:
                st.session_state["lit_sides"] = api.call_app(APP, "POST", "/contradictions", json={"claim": topic, **scope})
            except ApiError as exc:
                st.session_state.pop("lit_sides", None)
                st.error(str(exc))
    sides = st.session_state.get("lit_sides")
    if sides:
        left, right = st.columns(2)
        with left:
            st.subheader(f"Supporting ({len(sides['supporting'])})")
            for item in sides["supporting"]:
                show_abstract(item)
        with right:
            st.subheader(f"Contradicting ({len(sides['contradicting'])})")
            for item in sides["contradicting"]:
                show_abstract(item)

with summary_tab:
    with st.form("summary"):
        query = st.text_area("Question or topic")
        scope = scope_fields("summary")
        sentences = st.number_input("Sentences", min_value=1, max_value=30, value=6)
        if st.form_submit_button("Summarise"):
            try:
                st.session_state["lit_summary"] = api.call_app(APP, "POST", "/summaries", json={
                    "query": query, **scope, "max_sentences": int(sentences)})
            except ApiError as exc:
                st.session_state.pop("lit_summary", None)
                st.error(str(exc))
    summary = st.session_state.get("lit_summary")
    if summary:
        st.markdown(summary["text"])
        for group in summary["groups"]:
            st.caption(" · ".join(f"[{s['citation']}] PMID {s.get('pmid') or '—'}: {s['title']}" for s in group["sentences"]))
